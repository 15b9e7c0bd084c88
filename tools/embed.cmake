# cmake -DIN=rules/default.yaml -DOUT=default_rules.c -P embed.cmake
# Writes the file's bytes as a C array: mt_default_rules, mt_default_rules_len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from rules/default.yaml by tools/embed.cmake. */\n#include <stddef.h>\n"
     "const char mt_default_rules[] = {\n${bytes}0x00};\nconst size_t mt_default_rules_len = ${len};\n")

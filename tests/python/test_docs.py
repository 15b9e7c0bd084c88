"""The memtrace package's documentation agrees with its code.

- A C function's docstring opens with its signature (Argument Clinic's
  "name($self, /, ...)\\n--\\n\\n" form, which Python makes the
  __text_signature__ that inspect.signature and help() show). It must say
  what the C code parses: the kwlist and the PyArg_Parse format of the
  function that the method table names (positional-only, optional and
  keyword-only parameters), and the default of every parameter whose C
  variable starts with a known value.
- Every public function, class, method and attribute has a docstring; a
  Python docstring that opens with a signature line agrees with
  inspect.signature.
- man/man3/memtrace.3 documents every public name, every signature it
  writes (\\fBname\\fR(args)) is that callable's real one, and it names
  nothing that does not exist.
"""

import ast
import inspect
import os
import re
import signal

import pytest

from conftest import ROOT

memtrace = pytest.importorskip("memtrace")
_memtrace = memtrace._memtrace

SRC = os.path.join(ROOT, "tools", "collect", "python")
C_SOURCE = "\n".join(open(os.path.join(SRC, f), encoding="utf-8").read()
                     for f in sorted(os.listdir(SRC)) if f.endswith(".c"))
FORMAT_H = open(os.path.join(ROOT, "formats", "include", "memtrace", "format.h"), encoding="utf-8").read()
MAN3 = open(os.path.join(ROOT, "man", "man3", "memtrace.3"), encoding="utf-8").read()
UNKNOWN = object()  # a default the C source does not say plainly
P = inspect.Parameter


# --- what the C code parses -------------------------------------------------

def method_table(table):
    """[(python name, C function, flags)] of a PyMethodDef array."""
    m = re.search(rf"static PyMethodDef {table}\[\] = \{{(.*?)\n\}};", C_SOURCE, re.S)
    assert m, f"no PyMethodDef {table}[] in {SRC}"
    return re.findall(r'\{\s*"(\w+)",\s*(?:\(PyCFunction\))?(?:\(void \(\*\)\(void\)\))?(\w+),\s*([\w |]+),',
                      m.group(1))


def c_body(fname):
    m = re.search(rf"(?m)^[\w ]*?\*?{fname}\([^)]*\)\s*\{{\n(.*?)^\}}", C_SOURCE, re.S)
    assert m, f"no definition of {fname}() in {SRC}"
    return m.group(1)


def split_args(text):
    """The top-level comma-separated expressions of text, up to the ')'
    that closes the call text starts in."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return [a for a in out if a]


def c_constant(name):
    m = re.search(rf"#define {name} (\d+)u?\b", FORMAT_H)
    assert m, f"{name} is not a #define in format.h"
    return int(m.group(1))


def c_default(body, dest, unit, pname):
    """The value the C variable dest holds before parsing, as Python sees
    it, or UNKNOWN. An unsigned argument's uarg also names it for its error
    messages: that name must be the parameter's."""
    if "." in dest:  # a member of a struct zeroed first
        struct = dest.split(".")[0]
        if re.search(rf"memset\(&{struct}, 0,", body):
            return 0.0 if unit == "d" else 0
        return UNKNOWN
    m = re.search(rf'\b{dest} = U(?:32|64)\("(\w+)", (\w+)\)', body)
    if m:
        assert m.group(1) == pname, f"the uarg of parameter {pname!r} is named {m.group(1)!r}"
        v = m.group(2)
        return int(v) if v.isdigit() else c_constant(v)
    m = re.search(rf"[\s,*]{dest} = ([^,;]+?)\s*[,;]", body)
    if not m:
        return UNKNOWN
    v = m.group(1)
    if v == "Py_None":
        return None
    if re.fullmatch(r"-?\d+", v):
        return bool(int(v)) if unit == "p" else int(v)
    return UNKNOWN


def c_parameters(fname, flags):
    """[(name or None, kind, required, default)] that C function fname
    accepts, from its PyArg_Parse call."""
    if "METH_NOARGS" in flags:
        return []
    body = c_body(fname)
    call = re.search(r'PyArg_ParseTuple(AndKeywords)?\(args, (?:kw, )?"([^"]*)", (?:kwlist, )?', body)
    assert call, f"{fname}() calls no PyArg_ParseTuple*"
    kwlist = None
    if call.group(1):
        kwlist = re.findall(r'"(\w*)"', re.search(r"static char \*kwlist\[\] = \{(.*?)\};", body, re.S).group(1))
    fmt = re.split("[:;]", call.group(2))[0]
    args = split_args(body[call.end():])
    params, required, kwonly, i = [], True, False, 0
    for unit in re.findall(r"[|$]|[A-Za-z][&*#!]?", fmt):
        if unit == "|":
            required = False
            continue
        if unit == "$":
            kwonly = True
            continue
        take = 2 if unit[-1] in "&!#" else 1
        dest = args[i + take - 1].lstrip("&")
        if unit.endswith("#"):
            dest = args[i].lstrip("&")
        i += take
        n = len(params)
        name = kwlist[n] if kwlist else None
        kind = (P.POSITIONAL_ONLY if not name else P.KEYWORD_ONLY if kwonly else P.POSITIONAL_OR_KEYWORD)
        params.append((name, kind, required, UNKNOWN if required else c_default(body, dest, unit[0], name)))
    assert kwlist is None or len(kwlist) == len(params), f"{fname}(): kwlist and format differ in length"
    return params


def compare(what, sig, expected):
    """sig (an inspect.Signature without self) against c_parameters."""
    got = list(sig.parameters.values())
    assert len(got) == len(expected), f"{what}: the docstring says {sig}, the C code parses {len(expected)} " \
                                      f"parameters ({[e[0] for e in expected]})"
    for p, (name, kind, required, default) in zip(got, expected):
        if name is not None:
            assert p.name == name, f"{what}: the docstring's {p.name!r} is {name!r} in the C code ({sig})"
        assert p.kind == kind, f"{what}: {p.name} is {p.kind.description} in the docstring, " \
                               f"{kind.description} in the C code"
        assert (p.default is P.empty) == required, \
            f"{what}: {p.name} is {'optional' if required else 'required'} in the docstring, not in the C code"
        if default is not UNKNOWN:
            assert p.default == default and type(p.default) is type(default), \
                f"{what}: {p.name} defaults to {default!r} in the C code, the docstring says {p.default!r}"


def drop_self(sig):
    params = list(sig.parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return sig.replace(parameters=params)


C_CALLABLES = ([(f"Writer.{n}", getattr(memtrace.Writer, n), f, fl) for n, f, fl in method_table("Writer_methods")
                if not n.startswith("__")]
               + [(f"Sampler.{n}", getattr(_memtrace.Sampler, n), f, fl) for n, f, fl in method_table("Sampler_methods")
                  if not n.startswith("_")]
               + [(n, getattr(_memtrace, n), f, fl) for n, f, fl in method_table("module_methods")]
               + [("Writer", memtrace.Writer,
                   re.search(r"\.tp_init = \(initproc\)(\w+),", C_SOURCE).group(1), "METH_KEYWORDS")])


@pytest.mark.parametrize("what,obj,cfunc,flags", C_CALLABLES, ids=[c[0] for c in C_CALLABLES])
def test_c_docstring_signature_is_what_the_c_code_parses(what, obj, cfunc, flags):
    assert obj.__text_signature__, f"{what}: the docstring does not open with a signature line " \
                                   f"('{what.split('.')[-1]}($self, /, ...)\\n--\\n\\n')"
    assert obj.__doc__ and obj.__doc__.strip(), f"{what}: no text after the signature"
    compare(what, drop_self(inspect.signature(obj)), c_parameters(cfunc, flags))


def test_the_c_parser_of_this_test_reads_what_python_enforces():
    """The parse above against the interpreter on a few cases, so that a
    mistake in it cannot make every comparison pass."""
    w = memtrace.Writer
    with pytest.raises(TypeError, match="keyword argument"):
        w.__new__(w).add_meta(key="k", value=1)  # positional-only
    with pytest.raises(TypeError):
        memtrace.dump_heap("x.snap", None)  # label is keyword-only
    assert c_parameters("Writer_add_alloc", "METH_KEYWORDS")[2] == ("op", P.KEYWORD_ONLY, False, 2)
    assert c_parameters("memtrace_dump_heap", "METH_KEYWORDS")[2] == ("tracebacks", P.KEYWORD_ONLY, False, True)


# --- the public API's docstrings --------------------------------------------

def public_api():
    """(qualified name, object) of memtrace.__all__ and, for its classes,
    their public methods and attributes."""
    out = []
    for name in memtrace.__all__:
        obj = getattr(memtrace, name)
        out.append((name, obj))
        if inspect.isclass(obj):
            for mname, member in vars(obj).items():
                if not mname.startswith("_"):
                    out.append((f"{name}.{mname}", member))
    return out


def test_all_names_exist():
    missing = [n for n in memtrace.__all__ if not hasattr(memtrace, n)]
    assert not missing, f"memtrace.__all__ names what memtrace does not have: {missing}"


@pytest.mark.parametrize("what,obj", [a for a in public_api() if callable(a[1]) or inspect.isdatadescriptor(a[1])],
                         ids=[a[0] for a in public_api() if callable(a[1]) or inspect.isdatadescriptor(a[1])])
def test_public_callables_have_docstrings(what, obj):
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"memtrace.{what} has no docstring"
    if inspect.isfunction(obj):
        name = obj.__name__
        first = doc.splitlines()[0]
        if re.match(rf"{name}\(", first):
            compare_text(f"memtrace.{what}'s docstring", first[len(name):], obj)


# --- man/man3/memtrace.3 ----------------------------------------------------

def plain(roff):
    return re.sub(r"\\f[BIRP]", "", roff).replace("\\-", "-").replace("\\e", "\\")


def man_sections():
    """{section title: roff text}, the SYNOPSIS included."""
    parts = re.split(r"(?m)^\.S[HS] (.*)\n", MAN3)
    return dict(zip(parts[1::2], parts[2::2]))


def man_signatures():
    """(section, name, owner, 'args') for every \\fBname\\fR(args)."""
    out = []
    for title, text in man_sections().items():
        owner = getattr(memtrace, title, None) if re.fullmatch(r"\w+", title) else None
        for m in re.finditer(r"\\fB(memtrace\.)?([A-Za-z_]\w*)\\fR\(", text):
            args = ", ".join(split_args(plain(text[m.end():])))
            out.append((title, m.group(2), None if m.group(1) else owner, " ".join(args.split())))
    return out


def resolve(name, owner):
    if inspect.isclass(owner) and name in vars(owner):
        return getattr(owner, name)
    return getattr(memtrace, name, None)


def compare_text(what, args, obj):
    """A written signature '(a, b=1, *, c)' against obj's real one: the same
    names, kinds and order; a default where the real parameter has none is
    wrong, and one that is written must equal the real one. A keyword-only
    parameter may leave its default out."""
    tree = ast.parse(f"def f{args if args.startswith('(') else '(' + args + ')'}: pass").body[0].args
    written = ([(a.arg, P.POSITIONAL_ONLY) for a in tree.posonlyargs] + [(a.arg, P.POSITIONAL_OR_KEYWORD)
                                                                        for a in tree.args]
               + [(a.arg, P.KEYWORD_ONLY) for a in tree.kwonlyargs])
    npos = len(tree.posonlyargs) + len(tree.args)
    defaults = dict(zip([w[0] for w in written[npos - len(tree.defaults):npos]], tree.defaults))
    defaults.update({a.arg: d for a, d in zip(tree.kwonlyargs, tree.kw_defaults) if d is not None})
    real = drop_self(inspect.signature(obj))
    assert [(n, k) for n, k in written] == [(p.name, p.kind) for p in real.parameters.values()], \
        f"{what} writes ({args}); the real signature is {real}"
    for p in real.parameters.values():
        if p.name in defaults:
            assert p.default is not P.empty, f"{what}: {p.name} is required, but a default is written"
            value = eval(compile(ast.Expression(defaults[p.name]), what, "eval"), {"signal": signal})
            assert value == p.default, f"{what}: {p.name} defaults to {p.default!r}, not {ast.unparse(defaults[p.name])}"
        elif p.default is not P.empty and p.kind is not P.KEYWORD_ONLY:
            assert False, f"{what}: positional {p.name} is optional (default {p.default!r}), but no default is written"


SIGS = man_signatures()


@pytest.mark.parametrize("section,name,owner,args", SIGS, ids=[f"{s[0]}:{s[1]}" for s in SIGS])
def test_man3_signatures_are_real(section, name, owner, args):
    obj = resolve(name, owner)
    where = f"memtrace(3), {section}: {name}"
    assert obj is not None, f"{where}({args}) documents a name that does not exist"
    compare_text(where, args, obj)


def test_man3_documents_every_public_name_and_only_those():
    sections = man_sections()
    mentioned = set(re.findall(r"\\fB(?:memtrace\.)?(\w+)\\fR", MAN3)) | set(sections)
    missing = [n for n in memtrace.__all__ if n not in mentioned]
    assert not missing, f"memtrace(3) does not document {missing}"
    for title in sections:
        if re.fullmatch(r"[a-z_]\w*|[A-Z]\w*[a-z]\w*", title):
            assert hasattr(memtrace, title), f"memtrace(3) has a section {title!r}, which memtrace lacks"
    for name in re.findall(r"\\fBmemtrace\.(\w+)\\fR", MAN3):
        assert hasattr(memtrace, name), f"memtrace(3) names memtrace.{name}, which does not exist"
    for name, obj in vars(memtrace).items():
        if inspect.isclass(obj) and name in memtrace.__all__:
            assert name in sections, f"memtrace(3) has no section {name}"
            in_section = set(re.findall(r"\\fB(\w+)\\fR", sections[name]))
            members = [m for m in vars(obj) if not m.startswith("_")]
            missing = [m for m in members if m not in in_section]
            assert not missing, f"memtrace(3), section {name}, does not document {missing}"
    assert SIGS, "no \\fBname\\fR(args) signature found in memtrace(3): did its layout change?"


@pytest.mark.parametrize("command", ["heap", "run"])
def test_man3_synopsis_of_the_command_line_has_every_option_of_its_help(command):
    """`python3 -m memtrace heap|run --help` against the SYNOPSIS line of
    that command in memtrace(3): the same options, -h aside."""
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(memtrace.__file__)))
    p = subprocess.run([sys.executable, "-m", "memtrace", command, "--help"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    usage = p.stdout.split("\n\n")[0]
    helped = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", usage)) - {"-h"}
    line = next(plain(l) for l in MAN3.splitlines() if plain(l).startswith("python3 -m memtrace %s " % command))
    written = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line))
    assert written == helped, f"memtrace(3)'s synopsis of {command} has {sorted(written)}, --help {sorted(helped)}"

"""Static (AST) classification of snippets: what a snippet tries to touch beyond computing.

Runs inside the job (before the snippet, under the job's CPU and memory limits), so a huge or pathological
snippet costs the job, never the host; the host's ``classify_static`` wraps it with a size cap.

Returns short tags such as ``network:import:socket``, ``process:call:os.system``, ``fs:write-outside:/etc/x``,
``env:os.environ``, ``ctypes:import``, ``introspection:__subclasses__``, ``dynamic:exec``.  Ordinary math code
(sympy, numpy, itertools, fractions, printing, writing relative files) gets no tag.
"""

from __future__ import annotations

import ast

_MODULE_TAGS = {
    "socket": "network", "ssl": "network", "requests": "network", "urllib": "network", "urllib3": "network",
    "http": "network", "httpx": "network", "aiohttp": "network", "ftplib": "network", "smtplib": "network",
    "telnetlib": "network", "poplib": "network", "imaplib": "network", "xmlrpc": "network",
    "socketserver": "network", "asyncore": "network", "webbrowser": "network", "paramiko": "network",
    "subprocess": "process", "pty": "process", "multiprocessing": "process", "concurrent": None,
    "pexpect": "process", "sh": "process", "ctypes": "ctypes", "cffi": "ctypes", "_ctypes": "ctypes",
    "shutil": "fs", "tempfile": None, "pathlib": None, "glob": None, "importlib": "dynamic", "imp": "dynamic",
    "marshal": "dynamic", "pickle": None, "code": "dynamic", "codeop": "dynamic", "runpy": "dynamic",
    "gc": None, "inspect": None, "resource": None, "signal": None,
    "pwd": "secrets", "grp": "secrets", "getpass": "secrets", "keyring": "secrets", "posix": "process",
    "_posixsubprocess": "process", "mmap": None, "fcntl": "fs", "builtins": "introspection",
}

_CALL_TAGS = {
    "os.system": "process", "os.popen": "process", "os.fork": "process", "os.forkpty": "process",
    "os.kill": "signal", "os.killpg": "signal", "os.setsid": "process", "os.setpgid": "process",
    "os.posix_spawn": "process", "os.posix_spawnp": "process", "os.abort": "process", "os.chroot": "process",
    "os.setuid": "process", "os.setgid": "process", "os.nice": None, "os.getppid": "process",
    "os.remove": "fs", "os.unlink": "fs", "os.rmdir": "fs", "os.removedirs": "fs", "os.rename": "fs",
    "os.replace": "fs", "os.chmod": "fs", "os.chown": "fs", "os.link": "fs", "os.symlink": "fs",
    "os.truncate": "fs", "os.chdir": "fs", "os.listdir": "fs", "os.scandir": "fs", "os.walk": "fs",
    "os.open": "fs", "os.putenv": "env", "os.unsetenv": "env", "os.getenv": "env", "os.getenvb": "env",
    "shutil.rmtree": "fs", "shutil.move": "fs", "shutil.copy": "fs", "shutil.copyfile": "fs",
    "shutil.copytree": "fs", "shutil.chown": "fs", "signal.pthread_sigmask": "signal", "signal.pthread_kill": "signal",
    "sys._getframe": "introspection", "sys._current_frames": "introspection", "sys.settrace": "introspection",
    "sys.setprofile": "introspection", "sys.addaudithook": "introspection", "sys.modules": "introspection",
    "inspect.currentframe": "introspection", "inspect.stack": "introspection", "inspect.getmembers": None,
    "gc.get_objects": "introspection", "gc.get_referrers": "introspection", "gc.get_referents": "introspection",
    "importlib.reload": "dynamic", "importlib.import_module": "dynamic", "__import__": "dynamic",
    "exec": "dynamic", "eval": "dynamic", "compile": "dynamic", "globals": "introspection",
    "vars": None, "breakpoint": "process", "input": None,
}

_OS_EXEC_PREFIXES = ("exec", "spawn")
_DUNDER_TAGS = {
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__mro__", "__bases__",
    "__base__", "__getattribute__", "__dict__", "__loader__", "__spec__", "f_globals", "f_locals", "f_back",
    "f_builtins", "gi_frame", "tb_frame", "co_code", "__reduce__", "__reduce_ex__", "__self__", "__func__",
}
#: Tags kept per snippet (each at most ``TAG_MAX_CHARS``); one more replaces the last with ``TOO_MANY_TAGS``.
MAX_TAGS = 64
TAG_MAX_CHARS = 300
TOO_MANY_TAGS = "dynamic:too-many-static-tags"
_SENSITIVE_PATHS = ("/etc", "/proc", "/sys", "/root", "/home", "/dev", "/var", "/run", "/boot", "~", "/usr", "/bin",
                    "/tmp", "/mnt", "/opt", "/srv", "..")


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        v = node.value
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def _sensitive_path(p: str) -> bool:
    return p.startswith("/") or p.startswith(_SENSITIVE_PATHS)


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.tags: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> module / dotted origin

    def tag(self, t: str) -> None:
        # bounded and printable whatever the snippet's literals hold: the tags travel in the start frame,
        # which must stay a small valid message (a snippet must not be able to make it unreadable)
        if not t.isprintable():
            t = t.encode("unicode_escape").decode("ascii")
        t = t[:TAG_MAX_CHARS]
        if t in self.tags:
            return
        if len(self.tags) >= MAX_TAGS:
            if TOO_MANY_TAGS not in self.tags:
                self.tags[-1] = TOO_MANY_TAGS
            return
        self.tags.append(t)

    # imports
    def _module(self, name: str, alias: str | None) -> None:
        top = name.split(".")[0]
        kind = _MODULE_TAGS.get(top)
        if kind:
            self.tag("%s:import:%s" % (kind, name))
        if alias:
            self.aliases[alias] = name

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._module(a.name, a.asname or a.name.split(".")[0])
            if a.asname:
                self.aliases[a.asname] = a.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        self._module(mod, None)
        for a in node.names:
            full = "%s.%s" % (mod, a.name)
            if a.name == "*" and mod.split(".")[0] in ("os", "posix", "nt", "subprocess", "pty", "socket", "ctypes",
                                                       "shutil", "signal"):
                self.tag("%s:import:%s" % (_MODULE_TAGS.get(mod.split(".")[0]) or "process", full))
            self.aliases[a.asname or a.name] = full
            if _CALL_TAGS.get(full) or (mod == "os" and a.name.startswith(_OS_EXEC_PREFIXES)):
                self.tag("%s:import:%s" % (_CALL_TAGS.get(full) or "process", full))
            if mod == "os" and a.name in ("environ", "environb"):
                self.tag("env:os.environ")

    def _resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        origin = self.aliases.get(head)
        if origin:
            return origin + ("." + rest if rest else "")
        return dotted

    # attribute / name use
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _DUNDER_TAGS:
            self.tag("introspection:" + node.attr)
        d = _dotted(node)
        if d:
            full = self._resolve(d)
            if full in ("os.environ", "os.environb", "posix.environ"):
                self.tag("env:os.environ")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__loader__", "__spec__"):
            self.tag("introspection:" + node.id)

    def visit_Call(self, node: ast.Call) -> None:
        d = _dotted(node.func)
        if d:
            full = self._resolve(d)
            kind = _CALL_TAGS.get(full)
            if kind and full in ("exec", "eval", "compile"):
                if not (node.args and _const_str(node.args[0]) is not None):
                    self.tag("dynamic:" + full)
            elif kind:
                self.tag("%s:call:%s" % (kind, full))
            elif full.startswith("os.") and full[3:].startswith(_OS_EXEC_PREFIXES):
                self.tag("process:call:" + full)
            elif full.startswith(("subprocess.", "socket.", "ctypes.", "pty.", "multiprocessing.")):
                pass  # already tagged by the import
            if full in ("getattr", "setattr", "delattr") and len(node.args) >= 2:
                name = _const_str(node.args[1])
                if name is None:
                    self.tag("introspection:%s-dynamic" % full)
                elif name in _DUNDER_TAGS or name.startswith("__"):
                    self.tag("introspection:%s:%s" % (full, name))
            if full in ("open", "io.open", "os.open", "pathlib.Path", "Path", "pathlib.Path.open") and node.args:
                p = _const_str(node.args[0])
                mode = _const_str(node.args[1]) if len(node.args) > 1 else None
                for kw in node.keywords:
                    if kw.arg == "mode":
                        mode = _const_str(kw.value)
                if p is not None and _sensitive_path(p):
                    writing = mode is not None and any(c in mode for c in "wax+")
                    self.tag("fs:%s:%s" % ("write-outside" if writing else "read-outside", p[:120]))
            if full in ("os.listdir", "os.scandir", "os.walk", "glob.glob", "glob.iglob", "os.chdir") and node.args:
                p = _const_str(node.args[0])
                if p is not None and _sensitive_path(p):
                    self.tag("fs:list-outside:%s" % p[:120])
        elif isinstance(node.func, ast.Call):
            # __import__("o" + "s") and friends: call on a call
            pass
        self.generic_visit(node)


def classify_tree(tree: ast.AST) -> list[str]:
    """Tags for a parsed snippet (see ``classify``).

    Args:
        tree: the module's AST.
    """
    v = _Visitor()
    try:
        v.visit(tree)
    except RecursionError:
        v.tag("dynamic:deeply-nested")
    return v.tags


def parse(code: str) -> ast.AST | None:
    """The snippet's AST, or None when it does not parse (the snippet then fails with its own error).

    Args:
        code: the snippet.
    """
    try:
        return ast.parse(code, "snippet.py")
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return None


def classify(code: str) -> list[str]:
    """Tags for what ``code`` tries to touch beyond computing (empty list for ordinary math code).

    Unbounded: the cost grows with the code (about 650 bytes of memory per byte of dense code).

    Args:
        code: the snippet.
    """
    tree = parse(code)
    return [] if tree is None else classify_tree(tree)

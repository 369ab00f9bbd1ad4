"""Shader files from shaders/: a tiny #include, #line so errors name the file's own lines, and a program cache
that keeps the last good program when a reload fails. Call from the thread that owns the GL context."""
from __future__ import annotations

import re
from pathlib import Path

from studio import StudioError
from studio.paths import data_dir

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$')


class ShaderError(StudioError):
    pass


def preprocess(name: str, root: Path | None = None, defines: dict | None = None) -> tuple[str, list[str]]:
    """Expand includes. Returns (source, files) where files[i] is the file for GLSL source-string number i."""
    root = root or data_dir("shaders")
    files: list[str] = []

    def expand(fname: str, stack: tuple) -> list[str]:
        if fname in stack:
            raise ShaderError(f"{fname}: recursive #include")
        path = root / fname
        if not path.is_file():
            raise ShaderError(f"shader file {fname} not found in {root}")
        idx = len(files)
        files.append(fname)
        out = [f"#line 1 {idx}"]
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            m = _INCLUDE.match(line)
            if m:
                out.extend(expand(m.group(1), stack + (fname,)))
                out.append(f"#line {n + 1} {idx}")
            else:
                out.append(line)
        return out

    body = expand(name, ())
    head = ["#version 330 core"] + [f"#define {k} {v}" for k, v in (defines or {}).items()]
    return "\n".join(head + body) + "\n", files


def map_log(log: str, files: list[str]) -> str:
    """Rewrite driver messages like '0:12(5): error' or 'ERROR: 0:12:' to 'file.glsl:12'."""
    def sub(m):
        i = int(m.group(1))
        name = files[i] if i < len(files) else f"string {i}"
        return f"{name}:{m.group(2)}"
    return re.sub(r"\b(\d+):(\d+)(?:\(\d+\))?", sub, log)


def _text(log) -> str:
    return (log.decode(errors="replace") if isinstance(log, bytes) else str(log)).strip()


def compile_program(vert: str, frag: str, defines: dict | None = None, root: Path | None = None) -> int:
    from OpenGL import GL

    shaders = []
    try:
        for kind, name in ((GL.GL_VERTEX_SHADER, vert), (GL.GL_FRAGMENT_SHADER, frag)):
            src, files = preprocess(name, root, defines)
            sh = GL.glCreateShader(kind)
            GL.glShaderSource(sh, src)
            GL.glCompileShader(sh)
            if not GL.glGetShaderiv(sh, GL.GL_COMPILE_STATUS):
                log = _text(GL.glGetShaderInfoLog(sh))
                GL.glDeleteShader(sh)
                raise ShaderError(f"compile error in {name}: {map_log(log, files)}")
            shaders.append(sh)
        prog = GL.glCreateProgram()
        for sh in shaders:
            GL.glAttachShader(prog, sh)
        GL.glLinkProgram(prog)
        if not GL.glGetProgramiv(prog, GL.GL_LINK_STATUS):
            log = _text(GL.glGetProgramInfoLog(prog))
            GL.glDeleteProgram(prog)
            raise ShaderError(f"link error in {vert}+{frag}: {log}")
        return prog
    finally:
        for sh in shaders:
            GL.glDeleteShader(sh)


class ProgramCache:
    def __init__(self, root: Path | None = None):
        self.root = root
        self._progs: dict[tuple, int] = {}
        self._uniforms: dict[tuple, int] = {}

    def get(self, frag: str, vert: str = "fullscreen.vert") -> int:
        key = (vert, frag)
        if key not in self._progs:
            self._progs[key] = compile_program(vert, frag, root=self.root)
        return self._progs[key]

    def uniform(self, prog: int, name: str) -> int:
        from OpenGL import GL

        key = (prog, name)
        loc = self._uniforms.get(key)
        if loc is None:
            loc = GL.glGetUniformLocation(prog, name)
            self._uniforms[key] = loc
        return loc

    def reload(self) -> list[str]:
        """Recompile every program; on failure keep the last good one. Returns the error messages."""
        from OpenGL import GL

        errors = []
        for key, old in list(self._progs.items()):
            try:
                new = compile_program(key[0], key[1], root=self.root)
            except ShaderError as e:
                errors.append(str(e))
                continue
            GL.glDeleteProgram(old)
            self._progs[key] = new
            self._uniforms = {k: v for k, v in self._uniforms.items() if k[0] != old}
        return errors

    def release(self) -> None:
        from OpenGL import GL

        for p in self._progs.values():
            GL.glDeleteProgram(p)
        self._progs.clear()
        self._uniforms.clear()

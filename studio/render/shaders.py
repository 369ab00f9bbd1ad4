"""Shader files from shaders/: a tiny #include, #line so errors name the file's own lines, and a program cache
that keeps the last good program when a reload fails. Call from the thread that owns the GL context."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from studio import StudioError
from studio.paths import data_dir

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$')


class ShaderError(StudioError):
    pass


def _default_defines() -> dict:
    from studio.render.effects import shader_defines

    return shader_defines()


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
    """Compile and link; `defines` default to the constants shared with the CPU twin."""
    from OpenGL import GL

    defines = _default_defines() if defines is None else defines
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


def _setters():
    """GL uniform type -> how to set it; the type comes from the linked program, not from Python values."""
    from OpenGL import GL

    ints = (GL.GL_INT, GL.GL_BOOL, GL.GL_SAMPLER_2D)
    table = {t: lambda loc, v: GL.glUniform1i(loc, int(v)) for t in ints}
    table[GL.GL_FLOAT] = lambda loc, v: GL.glUniform1f(loc, float(v))
    for n, (fvec, ivec, bvec) in {2: (GL.GL_FLOAT_VEC2, GL.GL_INT_VEC2, GL.GL_BOOL_VEC2),
                                  3: (GL.GL_FLOAT_VEC3, GL.GL_INT_VEC3, GL.GL_BOOL_VEC3),
                                  4: (GL.GL_FLOAT_VEC4, GL.GL_INT_VEC4, GL.GL_BOOL_VEC4)}.items():
        fset, iset = getattr(GL, f"glUniform{n}f"), getattr(GL, f"glUniform{n}i")
        table[fvec] = lambda loc, v, f=fset: f(loc, *(float(x) for x in v))
        table[ivec] = table[bvec] = lambda loc, v, f=iset: f(loc, *(int(x) for x in v))
    return table


class ProgramCache:
    """Programs compiled once (with the shared #defines), their active uniforms introspected at link time."""

    def __init__(self, root: Path | None = None, defines: dict | None = None):
        self.root = root
        self.defines = defines if defines is not None else _default_defines()
        self._progs: dict[tuple, int] = {}
        self._uniforms: dict[int, dict[str, tuple[int, int, int]]] = {}   # prog -> name -> (loc, type, size)
        self._set = None

    def get(self, frag: str, vert: str = "fullscreen.vert") -> int:
        key = (vert, frag)
        if key not in self._progs:
            self._progs[key] = self._link(key)
        return self._progs[key]

    def _link(self, key: tuple) -> int:
        from OpenGL import GL

        prog = compile_program(key[0], key[1], defines=self.defines, root=self.root)
        table = {}
        for i in range(GL.glGetProgramiv(prog, GL.GL_ACTIVE_UNIFORMS)):
            name, size, typ = GL.glGetActiveUniform(prog, i)
            name = (name.decode() if isinstance(name, bytes) else str(name)).split("[")[0]
            table[name] = (GL.glGetUniformLocation(prog, name), int(typ), int(size))
        self._uniforms[prog] = table
        return prog

    def uniform(self, prog: int, name: str) -> int:
        """The location of an active uniform, -1 for one the compiler removed or the program lacks."""
        return self._uniforms[prog].get(name, (-1, 0, 0))[0]

    def set_uniform(self, prog: int, name: str, value) -> None:
        """Set by the uniform's declared GLSL type (a Python 1 can feed a float, 1.0 an int); arrays of float
        take a sequence. Uniforms the program lacks (optimised out) are skipped."""
        from OpenGL import GL

        entry = self._uniforms[prog].get(name)
        if entry is None:
            return
        loc, typ, size = entry
        if size > 1:
            GL.glUniform1fv(loc, size, np.asarray(value, np.float32)[:size])
            return
        if self._set is None:
            self._set = _setters()
        self._set[typ](loc, value)

    def reload(self) -> list[str]:
        """Recompile every program; on failure keep the last good one. Returns the error messages."""
        from OpenGL import GL

        errors = []
        for key, old in list(self._progs.items()):
            try:
                new = self._link(key)
            except ShaderError as e:
                errors.append(str(e))
                continue
            GL.glDeleteProgram(old)
            self._uniforms.pop(old, None)
            self._progs[key] = new
        return errors

    def release(self) -> None:
        from OpenGL import GL

        for p in self._progs.values():
            GL.glDeleteProgram(p)
        self._progs.clear()
        self._uniforms.clear()

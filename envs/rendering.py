"""Headless MuJoCo rendering: pick a GL backend that works here, and make 64x64 renders cheap.

MUJOCO_GL must be set before mujoco (or dm_control) is imported, and which backend works
depends on the machine (EGL through Mesa's llvmpipe, or OSMesa), so the choice is probed once
in a child process and exported to this process and its children.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import weakref

_PROBE = (
    "import mujoco\n"
    "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\"1\"/></worldbody></mujoco>')\n"
    "r = mujoco.Renderer(m, 8, 8)\n"
    "d = mujoco.MjData(m)\n"
    "r.update_scene(d)\n"
    "r.render()\n"
)


def choose_gl_backend() -> str:
    """Set MUJOCO_GL (and PYOPENGL_PLATFORM) to a backend that renders offscreen; return it.

    A value the user already set is respected. Otherwise EGL is tried first (faster), then
    OSMesa; if neither works the error says which Debian packages provide them.
    """
    if os.environ.get("MUJOCO_GL"):
        os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
        return os.environ["MUJOCO_GL"]
    for backend in ("egl", "osmesa"):
        env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=120
        )
        if probe.returncode == 0:
            os.environ["MUJOCO_GL"] = backend
            os.environ["PYOPENGL_PLATFORM"] = backend
            return backend
    raise RuntimeError(
        "no headless OpenGL backend works for MuJoCo (tried egl, osmesa); install the Debian "
        "packages libegl1 libgl1-mesa-dri libosmesa6 (scripts/setup.sh does)"
    )


def make_renders_cheap(model) -> None:
    """Turn off multisampling, shadows and reflections: about 10x faster at 64x64.

    Must run before the first render, because the offscreen buffer is created then.
    """
    model.vis.quality.offsamples = 0
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0


_LIVE_RENDERERS: weakref.WeakSet = weakref.WeakSet()
_exit_hook_registered = False


def create_renderer(model, size: int):
    """A ``size`` x ``size`` offscreen renderer, closed at exit while GL still works.

    Renderers left to the garbage collector at interpreter shutdown fail noisily (the EGL
    display is already gone), so every renderer is closed by an atexit hook instead.
    """
    import mujoco

    renderer = mujoco.Renderer(model, size, size)
    global _exit_hook_registered
    if not _exit_hook_registered:
        # Registered after mujoco's EGL module set up its own exit hook (which terminates
        # the display), so this one runs first: atexit hooks run last-in, first-out.
        atexit.register(_close_renderers)
        _exit_hook_registered = True
    _LIVE_RENDERERS.add(renderer)
    return renderer


def _close_renderers() -> None:
    for renderer in list(_LIVE_RENDERERS):
        renderer.close()

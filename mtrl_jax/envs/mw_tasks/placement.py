"""Reset placements and episode constants several tasks share (``TaskSpec.place`` / ``consts``)."""

from __future__ import annotations

import jax.numpy as jnp

from .common import Consts, tcp_center
from .spec import zeros3


def place_obj(rv, qpos, qvel, settled, adr, z_from_settled=False):
    """Puts the free object (qpos[9:12]) at rv[:3] and stops it (qvel[9:15])."""
    if z_from_settled:  # push: fix_extreme_obj_pos keeps the settled body height
        pos = jnp.stack([rv[0], rv[1], settled.obj_pos[2]])
    else:
        pos = rv[:3]
    qpos = qpos.at[9:12].set(pos.astype(qpos.dtype))
    qvel = qvel.at[9:15].set(0.0)
    return qpos, qvel, None


def consts_obj(push=False, pick=False):
    """Consts of an object task: object start rv[:3], target rv[3:6] (push: both at the settled
    object's height)."""
    def fn(rv, settled, placed, prev, spec):
        init_tcp = tcp_center(settled)
        if push:
            obj_init = jnp.stack([rv[0], rv[1], settled.obj_pos[2]])
            target = jnp.stack([rv[3], rv[4], settled.obj_pos[2]])
        else:
            obj_init, target = rv[:3], rv[3:6]
        return Consts(target_pos=target, obj_init_pos=obj_init, init_tcp=init_tcp,
                      init_lpad=settled.lpad, init_rpad=settled.rpad, aux=zeros3(rv), aux2=zeros3(rv))

    return fn


def place_fixture(qval=None, zero_vel=False):
    """Moves the fixture body to rv; optionally writes the task joint (adr = (qposadr, dofadr))."""

    def fn(rv, qpos, qvel, settled, adr):
        if qval is not None:
            qpos = qpos.at[adr[0]].set(qval)
            if zero_vel:
                qvel = qvel.at[adr[1]].set(0.0)
        return qpos, qvel, rv[:3]

    return fn

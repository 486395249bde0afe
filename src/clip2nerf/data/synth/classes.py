"""Part grammars of the 13 ShapeNetRender classes the paper uses.

Each grammar draws proportions, part counts and part shapes from ``rng`` and returns a
``SynthObject`` centred at the origin (+Z up, front towards +X). Units before normalisation are
roughly metres, so proportions look right; ``Builder.finish`` rescales to nf2vec's box.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clip2nerf.classes import CLASSES
from clip2nerf.data.synth import primitives as P
from clip2nerf.data.synth.objects import Builder, SynthObject

WOODS = ["brown", "dark brown", "tan"]
METALS = ["black", "dark grey", "silver", "grey"]
BRIGHT = ["red", "blue", "green", "yellow", "orange", "teal", "purple", "pink", "navy"]


def airplane(b: Builder) -> SynthObject:
    length = b.u(1.6, 2.2)
    r = b.u(0.07, 0.12)
    variant = b.choice(["airliner", "jet", "propeller"], p=[0.45, 0.3, 0.25])
    b.obj.variant = variant
    b.color("body", ["white", "white", "light grey", "silver", "grey", "blue", "red", "yellow", "navy"])
    b.same_or("wings", "body", 0.6, ["grey", "silver", "red", "blue", "white", "dark grey"])
    b.color("tail", ["red", "blue", "navy", "orange", "green", "black", "yellow", "white"])
    x0, x1 = -length / 2, length / 2
    b.add("body", P.lofted_hull([
        (x0, 0, 0.55 * r, 0.25 * r, 0.35 * r),
        (x0 + 0.28 * length, 0, 0, r, r),
        (x1 - 0.22 * length, 0, 0, r, r),
        (x1 - 0.07 * length, 0, -0.1 * r, 0.7 * r, 0.65 * r),
        (x1, 0, -0.2 * r, 0.12 * r, 0.12 * r),
    ], n=14))
    span = length * (b.u(0.85, 1.15) if variant != "jet" else b.u(0.6, 0.8))
    chord = b.u(0.22, 0.34) * (1.6 if variant == "jet" else 1.0)
    tip = chord * (b.u(0.3, 0.55) if variant != "propeller" else b.u(0.7, 1.0))
    sweep = {"airliner": b.u(0.15, 0.35), "jet": b.u(0.35, 0.6), "propeller": b.u(-0.02, 0.08)}[variant]
    xw = b.u(-0.05, 0.12) * length
    zw = b.u(-0.6, 0.4) * r if variant != "propeller" else b.choice([-0.6 * r, 0.9 * r])
    dihedral = b.u(0.0, 0.08)

    def wing(xc: float, z: float, half_span: float, c_root: float, c_tip: float, sw: float,
             thick: float, dz: float) -> list:
        out = []
        for side in (-1, 1):
            pts = []
            for y, c, lead, zz, t in ((0.0, c_root, xc + c_root / 2, z, thick),
                                      (side * half_span, c_tip, xc + c_root / 2 - sw, z + dz, thick / 2)):
                for xx in (lead, lead - c):
                    for s in (-0.5, 0.5):
                        pts.append((xx, y, zz + s * t))
            out.append(P.hull(np.array(pts)))
        return out

    b.add("wings", *wing(xw, zw, span / 2, chord, tip, sweep, 0.035, dihedral))
    fin_h = b.u(0.22, 0.36)
    fin_c = b.u(0.22, 0.32)
    xf = x0 + 0.03 * length
    b.add("tail", P.hull(np.array([
        (xf, -0.012, 0.3 * r), (xf, 0.012, 0.3 * r),
        (xf + fin_c, -0.012, 0.6 * r), (xf + fin_c, 0.012, 0.6 * r),
        (xf + 0.25 * fin_c, -0.008, fin_h), (xf + 0.25 * fin_c, 0.008, fin_h),
        (xf + 0.55 * fin_c, -0.008, fin_h), (xf + 0.55 * fin_c, 0.008, fin_h),
    ])))
    t_tail = b.chance(0.25)
    zt = fin_h * 0.95 if t_tail else 0.5 * r
    b.add("tail", *wing(xf + 0.4 * fin_c, zt, span * b.u(0.16, 0.22), fin_c * 0.8, fin_c * 0.45,
                        0.12, 0.025, 0.0))
    if variant == "airliner":
        n_eng = b.choice([2, 4], p=[0.7, 0.3])
        b.color("engines", ["grey", "dark grey", "silver", "white", "black"])
        ys = [0.3] if n_eng == 2 else [0.25, 0.45]
        er = r * b.u(0.45, 0.6)
        for yf in ys:
            y = yf * span / 2
            xe = xw + chord / 2 - sweep * yf + 0.12
            for side in (-1, 1):
                b.add("engines", P.cylinder((xe, side * y, zw - 1.3 * er),
                                            (xe - 0.22 - er, side * y, zw - 1.3 * er), er))
    elif variant == "propeller":
        b.color("engines", ["black", "dark grey", "silver"])
        b.add("engines", P.frustum((x1 - 0.02, 0, -0.2 * r), (x1 + 0.06, 0, -0.2 * r), 0.35 * r, 0.05),
              P.box((x1 + 0.02, 0, -0.2 * r), (0.015, 0.05, 3.2 * r)))
    return b.finish("airplane", ["body", "wings", "tail", "engines"])


def bench(b: Builder) -> SynthObject:
    length, depth, h = b.u(1.2, 2.0), b.u(0.35, 0.5), b.u(0.4, 0.48)
    b.color("seat", ["brown", "tan", "dark brown", "red", "green", "white", "teal", "grey", "dark green"])
    b.color("legs", ["black", "dark grey", "silver", "brown", "dark green"], avoid=[b.obj.colors["seat"]])
    t = 0.04
    n_slats = b.choice([1, 3, 4, 5])
    gap = 0.02 if n_slats > 1 else 0.0
    w = (depth - gap * (n_slats - 1)) / n_slats
    for i in range(n_slats):
        y = -depth / 2 + w / 2 + i * (w + gap)
        b.add("seat", P.box((0, y, h - t / 2), (length, w, t)))
    style = b.choice(["legs", "panels", "frames"], p=[0.4, 0.3, 0.3])
    b.obj.variant = style
    inset = b.u(0.05, 0.15) * length
    xs = (-length / 2 + inset, length / 2 - inset)
    if style == "legs":
        lw = b.u(0.04, 0.07)
        for x in xs:
            for y in (-depth / 2 + lw, depth / 2 - lw):
                b.add("legs", P.box((x, y, (h - t) / 2), (lw, lw, h - t)))
    elif style == "panels":
        pw = b.u(0.04, 0.07)
        for x in xs:
            b.add("legs", P.box((x, 0, (h - t) / 2), (pw, depth * 0.95, h - t)))
    else:
        for x in xs:
            b.add("legs", P.hull(np.array([(x + dx, y, z) for dx in (-0.02, 0.02)
                                            for y, z in ((-depth / 2 - 0.03, 0), (depth / 2 + 0.03, 0),
                                                         (-depth / 2, h - t), (depth / 2, h - t))])))
    if b.chance(0.65):
        back_h = b.u(0.3, 0.45)
        tilt = b.u(0.05, 0.2)
        n_back = b.choice([1, 2, 3])
        bw = back_h / (n_back * 1.6)
        for i in range(n_back):
            z = h + 0.06 + (i + 0.5) * back_h / n_back
            y = -depth / 2 - tilt * (z - h)
            b.add("seat", P.box((0, y, z), (length, 0.03, bw)))
        for x in xs:
            b.add("legs", P.hull(np.array([(x + dx, -depth / 2 + dy, h - t) for dx in (-0.025, 0.025)
                                            for dy in (0.0, 0.05)] +
                                           [(x + dx, -depth / 2 - tilt * back_h - 0.02 + dy, h + back_h + 0.06)
                                            for dx in (-0.025, 0.025) for dy in (0.0, 0.04)])))
        if b.chance(0.4):
            for x in (-length / 2 + 0.03, length / 2 - 0.03):
                b.add("legs", P.box((x, 0, h + 0.2), (0.05, depth, 0.04)),
                      P.box((x, depth / 2 - 0.03, h + 0.1), (0.04, 0.04, 0.2)))
    return b.finish("bench", ["seat", "legs"])


def cabinet(b: Builder) -> SynthObject:
    w, d, h = b.u(0.6, 1.3), b.u(0.4, 0.6), b.u(0.7, 1.8)
    b.color("body", ["white", "light grey", "brown", "tan", "dark brown", "beige", "black", "grey", "navy", "dark green"])
    style = b.choice(["doors", "drawers", "mixed"], p=[0.4, 0.35, 0.25])
    b.obj.variant = style
    fronts = "drawers" if style == "drawers" else "doors"
    b.same_or(fronts, "body", 0.5, ["white", "brown", "tan", "beige", "light grey", "dark brown", "red", "blue", "teal"])
    b.color("handles", ["silver", "gold", "black", "dark grey"], avoid=[b.obj.colors[fronts]])
    base = b.u(0.03, 0.1)
    if b.chance(0.5):
        b.same_or("legs", "body", 0.3, ["black", "silver", "dark brown"])
        for x in (-d / 2 + 0.05, d / 2 - 0.05):
            for y in (-w / 2 + 0.05, w / 2 - 0.05):
                b.add("legs", P.box((x, y, base / 2), (0.05, 0.05, base)))
    else:
        b.add("body", P.box((0, 0, base / 2), (d * 0.92, w * 0.95, base)))
    b.add("body", P.box((0, 0, base + h / 2), (d, w, h)))
    if b.chance(0.5):
        b.add("body", P.box((0.01, 0, base + h + 0.015), (d + 0.04, w + 0.04, 0.03)))
    xf, gap, m = d / 2 + 0.008, 0.012, 0.025

    def panel(part: str, y0: float, y1: float, z0: float, z1: float, handle: str) -> None:
        b.add(part, P.box((xf, (y0 + y1) / 2, (z0 + z1) / 2), (0.016, y1 - y0 - gap, z1 - z0 - gap)))
        hx = xf + 0.02
        if handle == "h":
            hw = min(0.25, 0.4 * (y1 - y0))
            b.add("handles", P.box((hx, (y0 + y1) / 2, z1 - min(0.08, (z1 - z0) / 3)), (0.025, hw, 0.025)))
        else:
            hy = y1 - 0.06 if handle == "right" else y0 + 0.06
            hl = min(0.2, 0.3 * (z1 - z0))
            b.add("handles", P.box((hx, hy, (z0 + z1) / 2), (0.025, 0.025, hl)))

    z0, z1 = base + m, base + h - m
    y0, y1 = -w / 2 + m, w / 2 - m
    split = z1
    if style in ("drawers", "mixed"):
        n = b.choice([2, 3, 4, 5]) if style == "drawers" else b.choice([1, 2])
        top_z = z1
        bottom_z = z0 if style == "drawers" else z1 - n * b.u(0.15, 0.22)
        cols = 2 if (w > 1.0 and b.chance(0.5)) else 1
        for i in range(n):
            za = bottom_z + i * (top_z - bottom_z) / n
            zb = za + (top_z - bottom_z) / n
            for c in range(cols):
                ya = y0 + c * (y1 - y0) / cols
                panel(fronts if style == "drawers" else "doors", ya, ya + (y1 - y0) / cols, za, zb, "h")
        split = bottom_z
    if style in ("doors", "mixed"):
        n_doors = 1 if w < 0.7 else b.choice([2, 2, 3]) if w > 1.0 else 2
        for i in range(n_doors):
            ya = y0 + i * (y1 - y0) / n_doors
            side = "right" if (i % 2 == 0 and n_doors > 1) else "left"
            panel("doors", ya, ya + (y1 - y0) / n_doors, z0, split, side)
    return b.finish("cabinet", ["body", fronts, "handles"])


def car(b: Builder) -> SynthObject:
    length, width = b.u(1.6, 2.1), b.u(0.7, 0.9)
    clear, hb, rw = b.u(0.08, 0.14), b.u(0.22, 0.32), b.u(0.13, 0.18)
    variant = b.choice(["sedan", "hatchback", "suv", "pickup", "van"], p=[0.3, 0.2, 0.2, 0.15, 0.15])
    b.obj.variant = variant
    b.color("body", ["red", "blue", "yellow", "white", "black", "silver", "green", "orange", "navy", "grey", "dark red"])
    b.color("windows", ["black", "dark grey", "light blue", "navy"], avoid=[b.obj.colors["body"]])
    b.color("wheels", ["black", "dark grey"])
    if variant in ("suv", "van"):
        clear += 0.04
        hb += 0.05
    x0, x1 = -length / 2, length / 2
    zb = clear + hb
    b.add("body", P.hull(np.array([
        (x, y * width / 2, z) for y in (-1, 1) for x, z in (
            (x0, clear + 0.03), (x0, zb - 0.02), (x0 + 0.12, zb), (x1 - 0.25, zb),
            (x1, zb - hb * b.u(0.3, 0.45)), (x1, clear + 0.04), (x1 - 0.1, clear), (x0 + 0.1, clear))])))
    hc = b.u(0.2, 0.28) + (0.12 if variant == "van" else 0.0)
    c0, c1 = {"sedan": (-0.3, 0.22), "hatchback": (-0.47, 0.2), "suv": (-0.47, 0.22),
              "pickup": (-0.08, 0.25), "van": (-0.48, 0.42)}[variant]
    c0, c1 = c0 * length + b.u(-0.03, 0.03), c1 * length + b.u(-0.03, 0.03)
    rear_slope = {"sedan": 0.18, "hatchback": 0.06, "suv": 0.03, "pickup": 0.02, "van": 0.02}[variant]
    front_slope = b.u(0.15, 0.3) if variant != "van" else 0.1
    cw = width * 0.88
    top = ((c0 + rear_slope * length * 0.5, c1 - front_slope), zb + hc)
    b.add("windows", P.hull(np.array([
        (x, y * s, z) for y in (-1, 1) for x, s, z in (
            (c0, cw / 2, zb - 0.01), (c1, cw / 2, zb - 0.01),
            (top[0][0], cw / 2 * 0.9, top[1]), (top[0][1], cw / 2 * 0.9, top[1]))])))
    b.add("body", P.box(((top[0][0] + top[0][1]) / 2, 0, top[1] + 0.012),
                        (top[0][1] - top[0][0] + 0.02, cw * 0.92, 0.025)))
    if variant == "pickup":
        b.add("body", P.box((x0 + 0.2, 0, zb + 0.06), (0.35, width * 0.98, 0.12)))
    inset = rw * b.u(1.3, 1.8)
    for x in (x0 + inset, x1 - inset):
        for side in (-1, 1):
            y = side * (width / 2 - 0.05)
            b.add("wheels", P.cylinder((x, y - 0.06, rw), (x, y + 0.06, rw), rw))
            b.add("wheels", P.cylinder((x, y, rw), (x, y + side * 0.065, rw), rw * 0.55))
    b.color("lights", ["white", "yellow"])
    for side in (-1, 1):
        b.add("lights", P.box((x1 - 0.005, side * width * 0.33, zb - hb * 0.35), (0.02, 0.14, 0.05)))
    return b.finish("car", ["body", "wheels", "windows"])


def chair(b: Builder) -> SynthObject:
    s, h, t = b.u(0.42, 0.55), b.u(0.4, 0.5), b.u(0.04, 0.08)
    style = b.choice(["four", "office", "sled", "splayed"], p=[0.45, 0.2, 0.15, 0.2])
    b.obj.variant = style
    b.color("seat", ["red", "blue", "black", "brown", "white", "grey", "green", "orange", "yellow", "beige", "tan", "teal", "pink", "dark brown"])
    b.same_or("back", "seat", 0.75, ["black", "brown", "white", "grey", "red", "blue"])
    b.color("legs", ["black", "silver", "brown", "dark brown", "grey", "white"], avoid=[b.obj.colors["seat"]])
    b.add("seat", P.rounded_slab((0, 0, h - t / 2), (s, s, t), b.u(0.0, 0.08), axis=2))
    lw = b.u(0.025, 0.05)
    if style in ("four", "splayed"):
        spread = 0.0 if style == "four" else b.u(0.04, 0.08)
        round_legs = b.chance(0.5)
        for x in (-1, 1):
            for y in (-1, 1):
                top = np.array([x * (s / 2 - lw), y * (s / 2 - lw), h - t])
                foot = top + np.array([x * spread, y * spread, 0.0])
                foot[2] = 0.0
                if round_legs:
                    b.add("legs", P.cylinder(foot, top, lw / 2 + 0.005))
                else:
                    b.add("legs", P.hull(np.concatenate([top + np.array([[dx, dy, 0]]) for dx in (-lw / 2, lw / 2) for dy in (-lw / 2, lw / 2)] +
                                                        [foot + np.array([[dx, dy, 0]]) for dx in (-lw / 2, lw / 2) for dy in (-lw / 2, lw / 2)])))
        if b.chance(0.35):
            for y in (-1, 1):
                b.add("legs", P.box((0, y * (s / 2 - lw), h * 0.3), (s - lw, lw * 0.6, lw * 0.6)))
    elif style == "office":
        b.add("legs", P.cylinder((0, 0, 0.08), (0, 0, h - t), 0.03))
        for k in range(5):
            a = 2 * np.pi * k / 5
            end = (0.3 * np.cos(a), 0.3 * np.sin(a), 0.05)
            b.add("legs", P.cylinder((0, 0, 0.08), end, 0.02), P.ellipsoid(end, (0.035, 0.035, 0.035), 1))
    else:
        for y in (-1, 1):
            yy = y * (s / 2 - 0.02)
            for a, c in (((-s / 2, yy, 0.01), (s / 2 + 0.03, yy, 0.01)),
                         ((-s / 2 + 0.03, yy, 0.0), (-s / 2 + 0.05, yy, h - t)),
                         ((s / 2, yy, 0.0), (s / 2 - 0.05, yy, h - t))):
                b.add("legs", P.cylinder(a, c, 0.014))
    back_h, tilt = b.u(0.35, 0.6), b.u(0.0, 0.18)
    bt = b.u(0.03, 0.06)
    if b.chance(0.65):
        b.add("back", P.hull(np.array([(x, y, z) for y in (-s / 2, s / 2) for x, z in (
            (-s / 2 + bt, h), (-s / 2, h), (-s / 2 - tilt * back_h + bt, h + back_h), (-s / 2 - tilt * back_h, h + back_h))])))
    else:
        for y in (-s / 2 + 0.025, s / 2 - 0.025):
            b.add("back", P.cylinder((-s / 2 + 0.02, y, h - t), (-s / 2 + 0.02 - tilt * back_h, y, h + back_h), 0.02))
        n = b.choice([2, 3, 4])
        for i in range(n):
            z = h + back_h * (0.4 + 0.6 * (i + 1) / (n + 0.5))
            b.add("back", P.box((-s / 2 + 0.02 - tilt * (z - h), 0, z), (0.03, s, back_h / (2.5 * n))))
    if style != "sled" and b.chance(0.3):
        for y in (-1, 1):
            b.add("legs", P.box((0, y * (s / 2 - 0.02), h + 0.2), (s * 0.8, 0.05, 0.04)),
                  P.box((s * 0.25, y * (s / 2 - 0.02), h + 0.1), (0.04, 0.04, 0.2)))
    return b.finish("chair", ["seat", "legs", "back"])


def display(b: Builder) -> SynthObject:
    w = b.u(0.9, 1.3)
    hs, d = w * b.u(0.55, 0.66), b.u(0.03, 0.06)
    b.color("frame", ["black", "black", "dark grey", "silver", "white", "grey"])
    b.color("screen", ["black", "navy", "dark grey", "light blue"], avoid=[b.obj.colors["frame"]])
    b.same_or("stand", "frame", 0.6, ["silver", "black", "dark grey", "white"])
    neck_h, base_t = b.u(0.1, 0.25), b.u(0.015, 0.03)
    zc = base_t + neck_h + hs / 2
    bezel = b.u(0.02, 0.05)
    b.add("frame", P.box((0, 0, zc), (d, w, hs)))
    b.add("screen", P.box((d / 2 + 0.003, 0, zc), (0.006, w - 2 * bezel, hs - 2 * bezel)))
    if b.chance(0.5):
        b.add("frame", P.hull(np.array([(x, y, zc + z) for x, sy, sz in ((-d / 2, w * 0.9, hs * 0.85),
                                                                       (-d / 2 - b.u(0.05, 0.12), w * 0.45, hs * 0.45))
                                         for y in (-sy / 2, sy / 2) for z in (-sz / 2, sz / 2)])))
    style = b.choice(["neck", "wide"], p=[0.7, 0.3])
    b.obj.variant = style
    if style == "neck":
        b.add("stand", P.box((-d / 2 - 0.03, 0, base_t + (neck_h + hs * 0.3) / 2),
                             (0.04, b.u(0.06, 0.14), neck_h + hs * 0.3)))
        if b.chance(0.5):
            b.add("stand", P.box((-0.02, 0, base_t / 2), (b.u(0.22, 0.3), b.u(0.3, 0.45), base_t)))
        else:
            b.add("stand", P.cylinder((-0.02, 0, 0), (-0.02, 0, base_t), b.u(0.14, 0.2)))
    else:
        for y in (-w * 0.35, w * 0.35):
            b.add("stand", P.box((-d / 2 - 0.01, y, base_t + neck_h / 2 + 0.01), (0.03, 0.04, neck_h + 0.02)),
                  P.box((-0.02, y, base_t / 2), (0.22, 0.06, base_t)))
    return b.finish("display", ["frame", "screen", "stand"])


def lamp(b: Builder) -> SynthObject:
    style = b.choice(["table", "floor", "desk"], p=[0.45, 0.3, 0.25])
    b.obj.variant = style
    b.color("shade", ["white", "beige", "red", "yellow", "green", "blue", "black", "orange", "teal", "pink"])
    b.color("base", ["black", "silver", "gold", "brown", "white", "dark grey", "grey"], avoid=[b.obj.colors["shade"]])
    br = b.u(0.1, 0.18)
    bt = b.u(0.02, 0.05)
    if b.chance(0.6):
        b.add("base", P.cylinder((0, 0, 0), (0, 0, bt), br))
    elif b.chance(0.5):
        b.add("base", P.box((0, 0, bt / 2), (2 * br * 0.9, 2 * br * 0.9, bt)))
    else:
        b.add("base", P.frustum((0, 0, 0), (0, 0, bt * 2), br, br * 0.4))
    if style == "desk":
        l1, l2 = b.u(0.3, 0.45), b.u(0.25, 0.4)
        a1, a2 = b.u(0.2, 0.5), b.u(0.9, 1.4)  # angles from vertical
        p0 = np.array([0, 0, bt])
        p1 = p0 + l1 * np.array([np.sin(a1), 0, np.cos(a1)])
        p2 = p1 + l2 * np.array([np.sin(a2), 0, np.cos(a2)])
        rr = b.u(0.012, 0.02)
        b.add("base", P.cylinder(p0, p1, rr), P.cylinder(p1, p2, rr), P.ellipsoid(p1, (rr * 1.8,) * 3, 1))
        sr, sh = b.u(0.08, 0.13), b.u(0.1, 0.16)
        b.add("shade", P.frustum(p2 + np.array([0, 0, 0.03]), p2 + np.array([0.03, 0, -sh]), sr * 0.3, sr))
        return b.finish("lamp", ["shade", "base"])
    height = b.u(0.3, 0.5) if style == "table" else b.u(1.2, 1.7)
    sr = (b.u(0.13, 0.22) if style == "table" else b.u(0.18, 0.28))
    sh = sr * b.u(0.8, 1.3)
    if style == "table" and b.chance(0.4):
        vr = br * b.u(0.6, 0.9)
        b.add("base", P.ellipsoid((0, 0, bt + height * 0.3), (vr, vr, height * 0.3)))
        b.add("base", P.cylinder((0, 0, bt), (0, 0, height + sh * 0.5), 0.012))
    else:
        b.add("base", P.cylinder((0, 0, bt), (0, 0, height + sh * 0.5), b.u(0.01, 0.022) * (1.5 if style == "floor" else 1)))
    top_r = sr * b.u(0.5, 0.95)
    b.add("shade", P.frustum((0, 0, height), (0, 0, height + sh), sr, top_r))
    return b.finish("lamp", ["shade", "base"])


def speaker(b: Builder) -> SynthObject:
    w, d = b.u(0.3, 0.5), b.u(0.3, 0.45)
    h = b.choice([b.u(0.45, 0.7), b.u(0.8, 1.2)])
    b.obj.variant = "tower" if h > 0.75 else "bookshelf"
    b.color("body", ["black", "black", "brown", "dark brown", "white", "tan", "red", "grey", "navy"])
    b.color("drivers", ["silver", "grey", "black", "orange", "white", "dark grey"], avoid=[b.obj.colors["body"]])
    b.color("rims", ["black", "dark grey", "silver"], avoid=[b.obj.colors["drivers"]])
    foot = b.u(0.0, 0.04)
    if foot > 0.015:
        b.add("body", P.box((0, 0, foot / 2), (d * 0.9, w * 0.9, foot)))
    b.add("body", P.box((0, 0, foot + h / 2), (d, w, h)))
    xf = d / 2
    rw = w * b.u(0.32, 0.42)
    n_woof = max(1, min(3, int((h - 0.2) / (2.2 * rw))))
    n_woof = b.choice(list(range(1, n_woof + 1)))
    rt = b.u(0.03, 0.05)
    zt = foot + h - 0.06 - rt
    b.add("rims", P.disc((xf + 0.005, 0, zt), (1, 0, 0), rt * 1.4, 0.01))
    b.add("drivers", P.ellipsoid((xf + 0.01, 0, zt), (0.02, rt, rt), 1))
    z = zt - rt * 1.4 - 0.03 - rw
    for _ in range(n_woof):
        b.add("rims", P.disc((xf + 0.006, 0, z), (1, 0, 0), rw, 0.012))
        b.add("drivers", P.frustum((xf + 0.01, 0, z), (xf + 0.02, 0, z), rw * 0.85, rw * 0.55))
        b.add("rims", P.ellipsoid((xf + 0.022, 0, z), (0.02, rw * 0.25, rw * 0.25), 1))
        z -= 2 * rw + 0.04
    if b.chance(0.4) and z > foot + 0.06:
        b.add("rims", P.disc((xf + 0.004, 0, max(z + rw - 0.04, foot + 0.06)), (1, 0, 0), 0.03, 0.008))
    return b.finish("speaker", ["body", "drivers"])


def rifle(b: Builder) -> SynthObject:
    b.color("stock", ["brown", "dark brown", "tan", "black", "dark green", "grey"])
    b.color("barrel", ["black", "dark grey", "grey", "silver"], avoid=[b.obj.colors["stock"]])
    lr, hr = b.u(0.22, 0.32), b.u(0.06, 0.085)
    lb, rb = b.u(0.45, 0.65), b.u(0.012, 0.018)
    b.add("barrel", P.box((0, 0, 0), (lr, 0.045, hr)))
    b.add("barrel", P.cylinder((lr / 2, 0, hr * 0.15), (lr / 2 + lb, 0, hr * 0.15), rb))
    b.add("barrel", P.box((lr / 2 + lb - 0.02, 0, hr * 0.15 + rb + 0.015), (0.015, 0.01, 0.03)))
    if b.chance(0.7):
        fl = lb * b.u(0.35, 0.6)
        b.same_or("forend", "stock", 0.7, ["black", "dark grey"])
        b.add("forend", P.hull(np.array([(x, y, z) for x in (lr / 2 - 0.01, lr / 2 + fl)
                                          for y in (-0.022, 0.022) for z in (-hr * 0.45, hr * 0.4)])))
    ls, drop = b.u(0.28, 0.38), b.u(0.04, 0.12)
    butt = b.u(0.11, 0.16)
    x0 = -lr / 2
    b.add("stock", P.hull(np.array([(x, y, z) for y in (-0.025, 0.025) for x, z in (
        (x0 + 0.02, hr / 2), (x0 + 0.02, -hr / 2), (x0 - ls, hr / 2 - drop),
        (x0 - ls, hr / 2 - drop - butt), (x0 - ls * 0.45, -hr / 2 - 0.035))])))
    if b.chance(0.5):
        b.add("stock", P.hull(np.array([(x, y, z) for y in (-0.02, 0.02) for x, z in (
            (x0 + 0.02, -hr / 2), (x0 + 0.07, -hr / 2), (x0 - 0.01, -hr / 2 - 0.12), (x0 - 0.05, -hr / 2 - 0.12))])))
    b.add("barrel", P.hull(np.array([(x, y, z) for y in (-0.006, 0.006) for x, z in (
        (x0 + 0.07, -hr / 2), (x0 + 0.08, -hr / 2 - 0.035), (x0 + 0.09, -hr / 2))])))
    b.add("barrel", P.box((x0 + 0.09, 0, -hr / 2 - 0.045), (0.1, 0.02, 0.01)))
    if b.chance(0.6):
        ml, mh = b.u(0.05, 0.08), b.u(0.08, 0.16)
        xm = x0 + 0.13 + ml / 2
        b.add("barrel", P.hull(np.array([(x, y, z) for y in (-0.018, 0.018) for x, z in (
            (xm - ml / 2, -hr / 2 + 0.005), (xm + ml / 2, -hr / 2 + 0.005),
            (xm - ml / 2 + 0.03, -hr / 2 - mh), (xm + ml / 2 + 0.03, -hr / 2 - mh))])))
    if b.chance(0.5):
        b.color("scope", ["black", "dark grey"])
        sl, sr = b.u(0.22, 0.32), b.u(0.018, 0.025)
        zs = hr / 2 + 0.04
        b.add("scope", P.cylinder((-sl / 2, 0, zs), (sl / 2, 0, zs), sr),
              P.frustum((sl / 2, 0, zs), (sl / 2 + 0.05, 0, zs), sr, sr * 1.5),
              P.frustum((-sl / 2, 0, zs), (-sl / 2 - 0.04, 0, zs), sr, sr * 1.3),
              P.box((-0.05, 0, hr / 2 + 0.015), (0.02, 0.02, 0.04)),
              P.box((0.06, 0, hr / 2 + 0.015), (0.02, 0.02, 0.04)))
    return b.finish("rifle", ["barrel", "stock", "scope"])


def sofa(b: Builder) -> SynthObject:
    w, d = b.u(1.4, 2.2), b.u(0.75, 0.95)
    hs, leg = b.u(0.38, 0.45), b.choice([0.0, b.u(0.05, 0.12)], p=[0.3, 0.7])
    b.color("body", ["red", "blue", "grey", "dark grey", "beige", "brown", "green", "navy", "tan", "teal", "orange", "yellow", "black", "white", "purple", "pink"])
    b.same_or("cushions", "body", 0.6, ["beige", "white", "grey", "red", "blue", "brown", "yellow"])
    ct = b.u(0.1, 0.16)
    base_top = hs - ct
    arm_w, arm_h = b.u(0.1, 0.22), b.u(0.55, 0.7)
    back_t, back_h = b.u(0.15, 0.25), b.u(0.75, 0.95)
    b.add("body", P.box((0, 0, (leg + base_top) / 2), (d, w, base_top - leg)))
    b.add("body", P.box((-d / 2 + back_t / 2, 0, (leg + back_h) / 2), (back_t, w, back_h - leg)))
    rolled = b.chance(0.35)
    for side in (-1, 1):
        y = side * (w / 2 - arm_w / 2)
        if rolled:
            b.add("body", P.box((0, y, (leg + arm_h - arm_w / 2) / 2), (d, arm_w, arm_h - arm_w / 2 - leg)),
                  P.cylinder((-d / 2, y, arm_h - arm_w / 2), (d / 2, y, arm_h - arm_w / 2), arm_w / 2 + 0.01))
        else:
            b.add("body", P.box((0, y, (leg + arm_h) / 2), (d, arm_w, arm_h - leg)))
    n = b.choice([1, 2, 3]) if w < 1.9 else b.choice([2, 3, 4])
    inner = w - 2 * arm_w
    cw = inner / n
    for i in range(n):
        y = -inner / 2 + (i + 0.5) * cw
        b.add("cushions", P.rounded_slab((back_t / 2 + 0.01, y, base_top + ct / 2), (d - back_t - 0.02, cw - 0.02, ct), 0.03, axis=2))
        if b.chance(0.7):
            bh = back_h - hs - 0.05
            b.add("cushions", P.rounded_slab((-d / 2 + back_t + 0.06, y, hs + bh / 2), (0.12, cw - 0.03, bh), 0.03, axis=0))
    if leg > 0:
        b.color("legs", ["black", "brown", "dark brown", "silver"], avoid=[b.obj.colors["body"]])
        for x in (-d / 2 + 0.06, d / 2 - 0.06):
            for y in (-w / 2 + 0.06, w / 2 - 0.06):
                b.add("legs", P.frustum((x, y, 0), (x, y, leg), 0.02, 0.03))
    return b.finish("sofa", ["body", "cushions", "legs"])


def table(b: Builder) -> SynthObject:
    shape = b.choice(["rect", "round", "square"], p=[0.55, 0.25, 0.2])
    coffee = b.chance(0.2)
    b.obj.variant = shape + (" coffee" if coffee else "")
    h = b.u(0.35, 0.45) if coffee else b.u(0.68, 0.78)
    tt = b.u(0.03, 0.07)
    b.color("top", ["brown", "tan", "dark brown", "white", "black", "beige", "light grey", "grey"])
    b.color("legs", ["black", "silver", "brown", "white", "dark brown", "grey"], avoid=[b.obj.colors["top"]])
    if shape == "round":
        r = b.u(0.4, 0.6)
        b.add("top", P.cylinder((0, 0, h - tt), (0, 0, h), r, sections=32))
        lx = ly = r * 0.62
    else:
        lx = b.u(1.0, 1.8) / 2 if shape == "rect" else b.u(0.7, 1.0) / 2
        ly = b.u(0.6, 1.0) / 2 if shape == "rect" else lx
        b.add("top", P.rounded_slab((0, 0, h - tt / 2), (2 * lx, 2 * ly, tt), b.u(0.0, 0.1), axis=2))
    style = b.choice(["legs", "pedestal", "trestle"], p=[0.6, 0.25, 0.15] if shape != "round" else [0.4, 0.6, 0.0])
    lw = b.u(0.04, 0.08)
    if style == "legs":
        ix, iy = (lx * 0.85, ly * 0.85) if shape != "round" else (lx * 0.75, ly * 0.75)
        for x in (-ix, ix):
            for y in (-iy, iy):
                b.add("legs", P.box((x, y, (h - tt) / 2), (lw, lw, h - tt)) if shape != "round" or b.chance(0.5)
                      else P.cylinder((x, y, 0), (x, y, h - tt), lw / 2))
        if shape != "round" and b.chance(0.5):
            b.same_or("apron", "top", 0.7, ["black", "brown"])
            b.add("apron", P.box((0, -iy, h - tt - 0.05), (2 * ix, 0.02, 0.1)), P.box((0, iy, h - tt - 0.05), (2 * ix, 0.02, 0.1)),
                  P.box((-ix, 0, h - tt - 0.05), (0.02, 2 * iy, 0.1)), P.box((ix, 0, h - tt - 0.05), (0.02, 2 * iy, 0.1)))
        if b.chance(0.25):
            b.add("top", P.box((0, 0, h * 0.25), (2 * ix, 2 * iy, tt * 0.7)))
    elif style == "pedestal":
        b.add("legs", P.cylinder((0, 0, 0.03), (0, 0, h - tt), b.u(0.04, 0.08)))
        if b.chance(0.5):
            b.add("legs", P.cylinder((0, 0, 0), (0, 0, 0.03), min(lx, ly) * b.u(0.5, 0.8)))
        else:
            for k in range(4):
                a = np.pi / 4 + k * np.pi / 2
                b.add("legs", P.cylinder((0, 0, 0.03), (min(lx, ly) * 0.6 * np.cos(a), min(lx, ly) * 0.6 * np.sin(a), 0.015), 0.025))
    else:
        for x in (-lx * 0.75, lx * 0.75):
            b.add("legs", P.box((x, 0, (h - tt) / 2), (0.05, ly * 1.5, h - tt)), P.box((x, 0, 0.02), (0.08, ly * 1.8, 0.04)))
        b.add("legs", P.box((0, 0, h * 0.3), (lx * 1.5, 0.05, 0.06)))
    return b.finish("table", ["top", "legs"])


def phone(b: Builder) -> SynthObject:
    w = b.u(0.36, 0.44)
    h, t = w * b.u(1.8, 2.15), w * b.u(0.08, 0.14)
    b.color("body", ["black", "white", "silver", "gold", "pink", "blue", "red", "grey", "dark grey", "navy", "green", "purple"])
    b.color("screen", ["black", "dark grey", "navy"], avoid=[b.obj.colors["body"]])
    cr = w * b.u(0.08, 0.18)
    b.add("body", P.rounded_slab((0, 0, h / 2), (t, w, h), cr, axis=0))
    mx = w * b.u(0.03, 0.07)
    top_m = h * b.u(0.03, 0.12)
    bot_m = h * b.u(0.03, 0.12)
    sh = h - top_m - bot_m
    b.add("screen", P.rounded_slab((t / 2 + 0.002, 0, bot_m + sh / 2), (0.006, w - 2 * mx, sh), max(cr - mx, 0.005), axis=0))
    b.color("camera", ["black", "dark grey", "silver"], avoid=[b.obj.colors["body"]])
    if bot_m > 0.06 and b.chance(0.6):
        b.add("camera", P.disc((t / 2 + 0.002, 0, bot_m / 2), (1, 0, 0), min(bot_m * 0.35, w * 0.08), 0.006))
    n_lens = b.choice([1, 2, 3])
    lr = w * 0.06
    for i in range(n_lens):
        b.add("camera", P.disc((-t / 2 - 0.003, w * 0.28 - (i % 2) * lr * 2.6, h - w * 0.18 - (i // 2) * lr * 2.6), (1, 0, 0), lr, 0.008))
    return b.finish("phone", ["body", "screen"])


def watercraft(b: Builder) -> SynthObject:
    length = b.u(1.6, 2.2)
    beam, hd = length * b.u(0.22, 0.32), b.u(0.18, 0.28)
    variant = b.choice(["sailboat", "motorboat", "ship"], p=[0.4, 0.35, 0.25])
    b.obj.variant = variant
    b.color("hull", ["white", "white", "red", "navy", "blue", "black", "dark green", "grey", "yellow"])
    b.color("deck", ["brown", "tan", "white", "light grey", "beige"], avoid=[b.obj.colors["hull"]])
    x0, x1 = -length / 2, length / 2
    stern = beam * b.u(0.35, 0.48)
    deck_pts = [(x0, -stern), (x0, stern), (x0 + 0.35 * length, beam / 2), (x0 + 0.35 * length, -beam / 2),
                (x1 - 0.25 * length, beam * 0.42), (x1 - 0.25 * length, -beam * 0.42), (x1, 0.0)]
    bow_rise = hd * b.u(0.1, 0.35)
    top = [(x, y, hd + bow_rise * max(0.0, (x - x0) / length - 0.5) * 2) for x, y in deck_pts]
    keel_w = beam * 0.12
    bottom = [(x0 + 0.05, -stern * 0.6, 0.05 * hd), (x0 + 0.05, stern * 0.6, 0.05 * hd), (x0 + 0.4 * length, keel_w, 0.0),
              (x0 + 0.4 * length, -keel_w, 0.0), (x1 - 0.2 * length, 0.0, 0.02 * hd)]
    b.add("hull", P.hull(np.array(top + bottom)))
    b.add("deck", P.hull(np.array([(x0 + 0.02 + 0.97 * (x - x0), 0.9 * y, z + dz) for x, y, z in top for dz in (0.0, 0.012)])))
    if variant == "sailboat":
        b.color("sail", ["white", "white", "beige", "red", "yellow", "blue", "light grey"], avoid=[b.obj.colors["hull"]])
        mh = length * b.u(0.65, 0.95)
        xm = x0 + length * b.u(0.5, 0.6)
        b.add("deck", P.cylinder((xm, 0, hd), (xm, 0, hd + mh), 0.012))
        boom = length * b.u(0.35, 0.5)
        b.add("sail", P.hull(np.array([(x, y, z) for y in (-0.004, 0.004) for x, z in (
            (xm - 0.015, hd + 0.1), (xm - 0.015, hd + mh * 0.97), (xm - boom, hd + 0.1))])))
        if b.chance(0.6):
            b.add("sail", P.hull(np.array([(x, y, z) for y in (-0.004, 0.004) for x, z in (
                (xm + 0.02, hd + mh * 0.85), (xm + 0.02, hd + 0.1), (x1 - 0.05, hd + bow_rise + 0.05))])))
        return b.finish("watercraft", ["hull", "sail", "deck"])
    b.color("cabin", ["white", "light grey", "grey", "navy", "beige"], avoid=[b.obj.colors["hull"]])
    if variant == "motorboat":
        cl, ch = length * b.u(0.25, 0.35), hd * b.u(0.6, 1.0)
        xc = x0 + length * b.u(0.35, 0.5)
        b.add("cabin", P.tapered_box((xc, 0, hd + ch / 2), (cl, beam * 0.6), (cl * 0.6, beam * 0.5), ch, shift=(-cl * 0.15, 0)))
        b.color("windows", ["black", "dark grey", "light blue"])
        b.add("windows", P.tapered_box((xc + cl * 0.36, 0, hd + ch * 0.55), (0.02, beam * 0.5), (0.02, beam * 0.42), ch * 0.5, shift=(-cl * 0.12, 0)))
        return b.finish("watercraft", ["hull", "cabin", "deck"])
    n_blocks = b.choice([1, 2, 3])
    xc = x0 + length * b.u(0.2, 0.35)
    z = hd
    for i in range(n_blocks):
        bl, bh = length * b.u(0.25, 0.35) * (0.75 ** i), hd * b.u(0.5, 0.8)
        b.add("cabin", P.box((xc, 0, z + bh / 2), (bl, beam * (0.7 - 0.1 * i), bh)))
        z += bh
    b.color("funnel", ["red", "black", "yellow", "orange", "blue"], avoid=[b.obj.colors["cabin"]])
    for k in range(b.choice([1, 2])):
        xf = xc - length * 0.15 - k * 0.15
        b.add("funnel", P.frustum((xf, 0, hd), (xf - 0.03, 0, z + hd * 0.5), beam * 0.12, beam * 0.1))
    return b.finish("watercraft", ["hull", "cabin", "funnel"])


CLASS_BUILDERS: dict[str, Callable[[Builder], SynthObject]] = {
    "airplane": airplane, "bench": bench, "cabinet": cabinet, "car": car, "chair": chair,
    "display": display, "lamp": lamp, "speaker": speaker, "rifle": rifle, "sofa": sofa,
    "table": table, "phone": phone, "watercraft": watercraft,
}
"""The grammar of each of ``clip2nerf.classes.CLASSES``, in that order."""


def object_rng(seed: int, class_name: str, index: int) -> np.random.Generator:
    """The generator of object ``index`` of ``class_name``: independent of which other classes
    or how many objects a run makes, so ``chair_0003`` is the same chair in every preset."""
    return np.random.default_rng([seed, CLASSES.index(class_name), index])


def make_object(class_name: str, seed: int, index: int) -> SynthObject:
    """Build object ``index`` of ``class_name`` for dataset seed ``seed``."""
    rng = object_rng(seed, class_name, index)
    return CLASS_BUILDERS[class_name](Builder(class_name, rng))

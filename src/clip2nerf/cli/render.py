"""``clip2nerf render``: views of a NeRF file as one grid PNG."""

from __future__ import annotations

import click

import clip2nerf.cli.options as opt
from clip2nerf.camera import DEFAULT_FOV_DEG, DEFAULT_ORBIT_RADIUS
from clip2nerf.errors import UserError


@click.command(name="render", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("nerf", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Grid PNG to write.")
@click.option("--views", type=opt.VIEWS, default=8, show_default=True, help="Number of views.")
@click.option("--res", type=opt.RESOLUTION, default=128, show_default=True, help="Pixels per view side.")
@click.option("--data", type=click.Path(file_okay=False), default=None,
              help="Dataset holding the NeRF's object: render from its cameras (evenly spaced "
                   "views) and put the ground-truth views in a second row.")
@click.option("--radius", type=opt.RADIUS, default=DEFAULT_ORBIT_RADIUS, show_default=True,
              help="Orbit camera distance (without --data).")
@click.option("--elevation", type=opt.ELEVATION, default=25.0, show_default=True,
              help="Orbit elevation in degrees (without --data).")
@click.option("--fov", type=opt.FOV, default=DEFAULT_FOV_DEG, show_default=True,
              help="Orbit camera field of view in degrees (without --data).")
@click.option("--samples", type=opt.SAMPLES, default=192, show_default=True,
              help="Samples along the box diagonal.")
@click.option("--cols", type=opt.COLS, default=None, help="Views per grid row (default: all).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def command(nerf, out, views, res, data, radius, elevation, fov, samples, cols, device):
    """Render NERF (a .safetensors file from `clip2nerf fit`) on a white background."""

    import numpy as np
    import torch

    from clip2nerf.camera import default_intrinsics, orbit_cameras
    from clip2nerf.nerf.io import load_nerf
    from clip2nerf.nerf.render import render_image
    from clip2nerf.utils.device import resolve_device
    from clip2nerf.utils.images import image_grid

    opt.check_out_file(out, "--out", ".png")
    dev = resolve_device(device)
    nf = load_nerf(nerf)
    field = nf.field.to(dev)
    occupancy = nf.occupancy.to(dev) if nf.occupancy is not None else None
    truth: list[np.ndarray] = []
    if data is not None:
        from clip2nerf.data.layouts import open_dataset

        ds = open_dataset(data)
        if not nf.object_id:
            raise UserError(f"{nerf} names no source object, so --data cannot find its cameras")
        if nf.object_id not in ds.object_ids():
            raise UserError(f"--data {data}: has no object {nf.object_id!r} (the NeRF's source)")
        rec = ds.get(nf.object_id)
        idx = np.linspace(0, rec.n_views, views, endpoint=False).astype(int)
        poses = rec.poses()[idx]
        intr = rec.intrinsics.scaled(res, res)
        from PIL import Image

        truth = [np.asarray(Image.fromarray(rec.load_view(int(i))).resize((res, res),
                                                                          Image.LANCZOS))
                 for i in idx]
    else:
        poses = orbit_cameras(views, radius, elevation)
        intr = default_intrinsics(res, fov)
    imgs = []
    with torch.no_grad():
        for c2w in poses:
            img = render_image(field, intr, c2w, nf.aabb, occupancy, n_samples=samples,
                               device=dev)
            imgs.append(img[..., :3].numpy())
    ncols = cols or views
    grid = image_grid(imgs + truth, ncols=ncols)
    from clip2nerf.utils.io import atomic_path

    with atomic_path(out) as tmp:
        grid.save(tmp, format="PNG")
    what = "dataset cameras (top: NeRF, bottom: ground truth)" if truth else "an orbit"
    click.echo(f"wrote {out}: {views} views of {nf.object_id or nerf} at {res}x{res} from {what}")
    return 0

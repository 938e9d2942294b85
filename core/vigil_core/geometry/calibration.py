"""Ground calibration: a homography from image points to metres on the ground plane.

Four image points whose positions on the ground are known (a rectangle of paving, parking
bays, lane markings) fix a plane-to-plane homography, as Frigate's speed zones do. It maps
where an object touches the ground (the bottom-centre of its box) to metres, so speeds and
densities become real-world figures. They remain estimates: a box's bottom edge moves with
posture and partial occlusion, and lens distortion bends straight lines the homography
assumes straight.

`TsaiCamera` reads a full Tsai calibration (such as PETS2009's) and back-projects image
points onto its ground plane: this is how the four points for vtest are derived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
from pathlib import Path
import xml.etree.ElementTree as ET

import numpy as np
import numpy.typing as npt

from vigil_core.errors import ConfigInvalid

type Point = tuple[float, float]
type FloatArray = npt.NDArray[np.float64]

_MIN_TRIANGLE = 1e-4
"""Smallest area (relative units, or m² on the ground) of any three of the four points."""
_MAX_CONDITION = 1e9


def _triangle_area(a: Sequence[float], b: Sequence[float], c: Sequence[float]) -> float:
    return abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2.0


def _check_spread(points: Sequence[Sequence[float]], what: str, scale: float) -> None:
    """Raise unless no three of the points are (nearly) on one line."""
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                if _triangle_area(points[i], points[j], points[k]) < _MIN_TRIANGLE * scale:
                    raise ConfigInvalid(
                        f"{what} {i + 1}, {j + 1} and {k + 1} are (almost) on one line: "
                        "pick four points spread over the ground, no three aligned"
                    )


def _normaliser(points: FloatArray) -> FloatArray:
    """Return the similarity that centres points and scales their mean distance to √2 (Hartley)."""
    centre = points.mean(axis=0)
    spread = float(np.mean(np.linalg.norm(points - centre, axis=1)))
    s = math.sqrt(2.0) / spread
    return np.array([[s, 0.0, -s * centre[0]], [0.0, s, -s * centre[1]], [0.0, 0.0, 1.0]])


def fit_homography(src: Sequence[Sequence[float]], dst: Sequence[Sequence[float]]) -> FloatArray:
    """Return the 3×3 homography mapping src points to dst points (normalised DLT, ≥ 4 pairs)."""
    a, b = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    ta, tb = _normaliser(a), _normaliser(b)
    a_n = (ta @ np.c_[a, np.ones(len(a))].T).T
    b_n = (tb @ np.c_[b, np.ones(len(b))].T).T
    rows = []
    for (x, y, _), (u, v, _) in zip(a_n, b_n, strict=True):
        rows.append([-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u])
        rows.append([0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.array(rows))
    h_n = vt[-1].reshape(3, 3)
    h: FloatArray = np.linalg.inv(tb) @ h_n @ ta
    normalised: FloatArray = h / h[2, 2]
    return normalised


class Homography:
    """Map relative image points (0–1) to ground coordinates in metres."""

    __slots__ = ("ground_points", "image_points", "matrix")

    def __init__(self, image_points: Sequence[Point], ground_points: Sequence[Point]) -> None:
        """Fit the homography; raise ConfigInvalid when the points cannot define one."""
        if len(image_points) != 4 or len(ground_points) != 4:
            raise ConfigInvalid(
                f"a ground calibration needs 4 image points and 4 ground points, "
                f"got {len(image_points)} and {len(ground_points)}"
            )
        for x, y in image_points:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ConfigInvalid(
                    f"image point ({x}, {y}) is outside the frame: coordinates are relative, 0 to 1"
                )
        _check_spread(image_points, "image points", 1.0)
        ground_scale = max(1.0, _bbox_area(ground_points))
        _check_spread(ground_points, "ground points", ground_scale)
        self.image_points = tuple((float(x), float(y)) for x, y in image_points)
        self.ground_points = tuple((float(x), float(y)) for x, y in ground_points)
        self.matrix = fit_homography(self.image_points, self.ground_points)
        if not np.all(np.isfinite(self.matrix)) or np.linalg.cond(self.matrix) > _MAX_CONDITION:
            raise ConfigInvalid("ground calibration is degenerate: the points define no plane")
        self._check_order()

    def _check_order(self) -> None:
        """Refuse points listed in a different order on the image than on the ground.

        A homography can fold the plane (one point mirrored): every mapped image point would
        still land on its ground point, but the space between them would be nonsense.
        """
        img = self.image_points
        gnd = self.ground_points
        signs = set()
        for i in range(4):
            a, b, c = img[i], img[(i + 1) % 4], img[(i + 2) % 4]
            p, q, r = gnd[i], gnd[(i + 1) % 4], gnd[(i + 2) % 4]
            cross_img = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
            cross_gnd = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
            signs.add((cross_img > 0) == (cross_gnd > 0))
        if len(signs) > 1:
            raise ConfigInvalid(
                "ground calibration points are not in the same order on the image and on the "
                "ground (a quadrilateral is folded): list them in the same turning order"
            )

    def to_ground(self, x: float, y: float) -> Point:
        """Return the ground position in metres of a relative image point."""
        h = self.matrix
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        return (
            float((h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w),
            float((h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w),
        )

    def to_ground_many(self, points: FloatArray) -> FloatArray:
        """Return the ground positions (N×2, metres) of N relative image points (N×2)."""
        ones = np.ones((points.shape[0], 1))
        mapped = np.c_[points, ones] @ self.matrix.T
        result: FloatArray = mapped[:, :2] / mapped[:, 2:3]
        return result

    def polygon_area_m2(self, polygon: Sequence[Point]) -> float:
        """Return the ground area in m² of a polygon given in relative image points."""
        ground = self.to_ground_many(np.asarray(polygon, dtype=np.float64))
        x, y = ground[:, 0], ground[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _bbox_area(points: Sequence[Sequence[float]]) -> float:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (max(xs) - min(xs)) * (max(ys) - min(ys))


def rectangle_from_distances(distances: Sequence[float]) -> list[Point]:
    """Return ground points for a quadrilateral given by its side lengths AB, BC, CD, DA (metres).

    Like Frigate's speed zones, the four image points are taken to be the corners of a
    rectangle on the ground; opposite sides are averaged. Use explicit ground points when the
    area is not a rectangle.
    """
    if len(distances) != 4:
        raise ConfigInvalid(
            f"distances needs 4 side lengths (AB, BC, CD, DA), got {len(distances)}"
        )
    if min(distances) <= 0:
        raise ConfigInvalid("distances must all be positive metres")
    ab, bc, cd, da = distances
    width, depth = (ab + cd) / 2.0, (bc + da) / 2.0
    if abs(ab - cd) > 0.25 * width or abs(bc - da) > 0.25 * depth:
        raise ConfigInvalid(
            "distances differ too much between opposite sides for a rectangle: give ground_points"
        )
    return [(0.0, 0.0), (width, 0.0), (width, depth), (0.0, depth)]


@dataclass(frozen=True, slots=True)
class TsaiCamera:
    """A Tsai (1987) camera model, as in the PETS2009 calibration files (world units: mm)."""

    width: int
    height: int
    dpx: float
    dpy: float
    focal: float
    kappa1: float
    cx: float
    cy: float
    sx: float
    rotation: tuple[tuple[float, float, float], ...]
    translation: tuple[float, float, float]

    @classmethod
    def from_xml(cls, path: Path) -> TsaiCamera:
        """Read a PETS-style calibration XML (Geometry, Intrinsic, Extrinsic elements)."""
        root = ET.parse(path).getroot()

        def attrs(tag: str) -> dict[str, float]:
            element = root.find(tag)
            if element is None:
                raise ConfigInvalid(f"{path.name}: no <{tag}> element")
            return {k: float(v) for k, v in element.attrib.items()}

        geometry, intrinsic, extrinsic = attrs("Geometry"), attrs("Intrinsic"), attrs("Extrinsic")
        return cls(
            width=int(geometry["width"]),
            height=int(geometry["height"]),
            dpx=geometry["dpx"],
            dpy=geometry["dpy"],
            focal=intrinsic["focal"],
            kappa1=intrinsic["kappa1"],
            cx=intrinsic["cx"],
            cy=intrinsic["cy"],
            sx=intrinsic["sx"],
            rotation=_tsai_rotation(extrinsic["rx"], extrinsic["ry"], extrinsic["rz"]),
            translation=(extrinsic["tx"], extrinsic["ty"], extrinsic["tz"]),
        )

    def image_to_ground(self, u: float, v: float, z: float = 0.0) -> tuple[float, float]:
        """Return the world (x, y) where the ray through pixel (u, v) meets the plane z."""
        xd = (u - self.cx) * self.dpx / self.sx
        yd = (v - self.cy) * self.dpy
        r2 = xd * xd + yd * yd
        xu, yu = xd * (1.0 + self.kappa1 * r2), yd * (1.0 + self.kappa1 * r2)
        rot = np.array(self.rotation)
        centre = -rot.T @ np.array(self.translation)
        ray = rot.T @ np.array([xu, yu, self.focal])
        t = (z - centre[2]) / ray[2]
        point = centre + t * ray
        return float(point[0]), float(point[1])

    def world_to_image(self, x: float, y: float, z: float = 0.0) -> tuple[float, float]:
        """Return the pixel where a world point (same units as the calibration) is seen."""
        cam = np.array(self.rotation) @ np.array([x, y, z]) + np.array(self.translation)
        xu, yu = self.focal * cam[0] / cam[2], self.focal * cam[1] / cam[2]
        xd, yd = xu, yu
        for _ in range(20):  # invert the radial distortion by fixed-point iteration
            r2 = xd * xd + yd * yd
            xd, yd = xu / (1.0 + self.kappa1 * r2), yu / (1.0 + self.kappa1 * r2)
        return float(self.sx * xd / self.dpx + self.cx), float(yd / self.dpy + self.cy)


def _tsai_rotation(rx: float, ry: float, rz: float) -> tuple[tuple[float, float, float], ...]:
    """Return Tsai's rotation matrix for Euler angles (radians), as in Willson's reference code."""
    sa, ca = math.sin(rx), math.cos(rx)
    sb, cb = math.sin(ry), math.cos(ry)
    sg, cg = math.sin(rz), math.cos(rz)
    return (
        (cb * cg, cg * sa * sb - ca * sg, sa * sg + ca * cg * sb),
        (cb * sg, sa * sb * sg + ca * cg, ca * sb * sg - cg * sa),
        (-sb, cb * sa, ca * cb),
    )


def ground_points_from_tsai(
    camera: TsaiCamera, image_points: Sequence[Point], *, units_per_metre: float = 1000.0
) -> list[Point]:
    """Back-project relative image points onto a Tsai camera's ground plane; return metres."""
    out = []
    for x, y in image_points:
        gx, gy = camera.image_to_ground(x * camera.width, y * camera.height)
        out.append((round(gx / units_per_metre, 3), round(gy / units_per_metre, 3)))
    return out

"""Generated pictures for the demo world: landscapes, cities at dusk, bokeh, flowers, and
avatars, drawn with Pillow from a seeded random generator (gradients, shapes, blur and
grain, never a flat colour), so a fresh install looks lived in without shipping photos."""

import io
import math
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter

Colour = tuple[int, int, int]

SKIES: list[tuple[Colour, Colour]] = [
    ((255, 183, 94), (92, 62, 140)),  # dusk
    ((135, 200, 250), (230, 244, 255)),  # noon
    ((250, 140, 110), (255, 226, 170)),  # dawn
    ((20, 30, 70), (80, 60, 120)),  # night
    ((120, 170, 210), (240, 200, 170)),  # hazy evening
]


def _gradient(size: tuple[int, int], top: Colour, bottom: Colour, *, angle: int = 0) -> Image.Image:
    """`top` to `bottom`: downwards (angle 0), rightwards (90) or diagonally (45)."""
    vertical = Image.linear_gradient("L")
    if angle == 0:
        mask = vertical
    elif angle == 90:
        mask = vertical.transpose(Image.Transpose.ROTATE_90).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    else:
        mask = ImageChops.add(vertical, vertical.transpose(Image.Transpose.ROTATE_90), scale=2.0)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask.resize(size))


_NOISE: dict[int, Image.Image] = {}
NOISE_EDGE = 1024


def _grain(image: Image.Image, rng: random.Random, amount: int = 12) -> Image.Image:
    """Film grain: a window of one noise field per strength (made once: drawing fresh
    noise for every picture would cost more than the picture)."""
    if amount not in _NOISE:
        _NOISE[amount] = Image.effect_noise((NOISE_EDGE, NOISE_EDGE), amount).convert("RGB")
    x = rng.randint(0, NOISE_EDGE - image.width)
    y = rng.randint(0, NOISE_EDGE - image.height)
    noise = _NOISE[amount].crop((x, y, x + image.width, y + image.height))
    return ImageChops.add(image, noise, scale=1.0, offset=-128)


def _soft(layer: Image.Image, radius: float) -> Image.Image:
    """A Gaussian blur done at a quarter of the size and scaled back: the same softness
    for a sixteenth of the work."""
    small = layer.resize((max(1, layer.width // 4), max(1, layer.height // 4)), Image.Resampling.BILINEAR)
    return small.filter(ImageFilter.GaussianBlur(max(0.5, radius / 4))).resize(layer.size, Image.Resampling.BICUBIC)


def _shade(colour: Colour, factor: float) -> Colour:
    return (
        max(0, min(255, int(colour[0] * factor))),
        max(0, min(255, int(colour[1] * factor))),
        max(0, min(255, int(colour[2] * factor))),
    )


def _ridge(rng: random.Random, width: int, base: int, roughness: int) -> list[tuple[int, int]]:
    points = [(0, base)]
    y = base
    for x in range(0, width + 40, 40):
        y = max(base - roughness * 2, min(base + roughness, y + rng.randint(-roughness, roughness)))
        points.append((x, y))
    return points


def landscape(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    top, bottom = rng.choice(SKIES)
    image = _gradient(size, top, bottom)
    glow = Image.new("RGBA", size, (0, 0, 0, 0))
    sun_x, sun_y, r = rng.randint(width // 5, width * 4 // 5), rng.randint(height // 6, height // 2), width // 12
    ImageDraw.Draw(glow).ellipse((sun_x - r * 3, sun_y - r * 3, sun_x + r * 3, sun_y + r * 3), fill=(255, 240, 200, 90))
    glow = _soft(glow, r)
    ImageDraw.Draw(glow).ellipse((sun_x - r, sun_y - r, sun_x + r, sun_y + r), fill=(255, 250, 230, 235))
    image.paste(glow, (0, 0), glow)
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.58, 0.7))
    hue = rng.choice([(70, 90, 120), (60, 100, 80), (110, 80, 100), (50, 70, 60)])
    for layer in range(3):
        base = horizon - int(height * 0.18) + layer * int(height * 0.07)
        ridge = _ridge(rng, width, base, max(8, height // 30))
        draw.polygon([*ridge, (width, horizon), (0, horizon)], fill=_shade(hue, 0.6 + 0.25 * layer))
    water = image.crop((0, 0, width, horizon)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    water = _soft(water.resize((width, height - horizon)), 6)
    water = Image.blend(water, Image.new("RGB", water.size, (20, 40, 70)), 0.35)
    image.paste(water, (0, horizon))
    for _ in range(rng.randint(20, 40)):  # ripples
        y = rng.randint(horizon + 4, height - 2)
        x = rng.randint(0, width)
        draw.line((x, y, x + rng.randint(10, 60), y), fill=_shade(top, 1.05), width=1)
    return _grain(image, rng)


def city(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = _gradient(size, (30, 30, 80), rng.choice([(250, 130, 90), (240, 170, 120), (180, 110, 160)]))
    draw = ImageDraw.Draw(image)
    x = -rng.randint(0, 30)
    while x < width:
        w = rng.randint(width // 14, width // 6)
        h = rng.randint(height // 4, int(height * 0.75))
        tone = rng.randint(18, 45)
        draw.rectangle((x, height - h, x + w, height), fill=(tone, tone, tone + 12))
        for wy in range(height - h + 8, height - 6, 14):
            for wx in range(x + 5, x + w - 6, 11):
                if rng.random() < 0.42:
                    draw.rectangle(
                        (wx, wy, wx + 5, wy + 7), fill=rng.choice([(255, 214, 120), (255, 236, 180), (200, 220, 255)])
                    )
        x += w + rng.randint(0, 6)
    return _grain(image.filter(ImageFilter.SMOOTH), rng)


def bokeh(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = _gradient(size, (15, 20, 35), rng.choice([(70, 40, 90), (30, 70, 90), (90, 60, 30)]), angle=45)
    lights = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(lights)
    palette = rng.choice(
        [[(255, 190, 90), (255, 120, 80)], [(120, 200, 255), (200, 140, 255)], [(255, 230, 150), (255, 255, 255)]]
    )
    for _ in range(rng.randint(25, 45)):
        r = rng.randint(width // 40, width // 10)
        cx, cy = rng.randint(0, width), rng.randint(0, height)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*rng.choice(palette), rng.randint(60, 150)))
    lights = _soft(lights, rng.randint(4, 10))
    image.paste(lights, (0, 0), lights)
    return _grain(image, rng)


def flower(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = _gradient(size, (40, 90, 50), (150, 190, 120), angle=rng.choice([0, 45, 90]))
    petals = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(petals)
    colour = rng.choice([(240, 90, 120), (250, 200, 60), (180, 110, 230), (250, 250, 245), (245, 130, 60)])
    for _ in range(rng.randint(1, 3)):
        cx, cy = rng.randint(width // 4, width * 3 // 4), rng.randint(height // 4, height * 3 // 4)
        radius = rng.randint(width // 8, width // 4)
        count = rng.randint(6, 11)
        for k in range(count):
            angle = 2 * math.pi * k / count
            px, py = cx + math.cos(angle) * radius * 0.55, cy + math.sin(angle) * radius * 0.55
            pr = radius * 0.42
            shade = _shade(colour, rng.uniform(0.85, 1.1))
            draw.ellipse((px - pr, py - pr, px + pr, py + pr), fill=(*shade, 225))
        core = radius * 0.25
        draw.ellipse((cx - core, cy - core, cx + core, cy + core), fill=(120, 80, 20, 255))
    petals = petals.filter(ImageFilter.SMOOTH)
    image.paste(petals, (0, 0), petals)
    return _grain(image, rng, 10)


SCENES = (landscape, city, bokeh, flower)


def photo(rng: random.Random, size: tuple[int, int] = (720, 720)) -> tuple[str, Image.Image]:
    """A picture of a random kind: `(kind, image)`, the kind being the scene's name."""
    scene = rng.choice(SCENES)
    return scene.__name__, scene(rng, size)


def avatar(rng: random.Random, size: int = 256) -> Image.Image:
    """A portrait-like silhouette on a two-tone gradient."""
    background = rng.choice(
        [
            ((255, 200, 150), (240, 120, 110)),
            ((160, 210, 240), (90, 120, 220)),
            ((200, 240, 190), (90, 170, 130)),
            ((240, 210, 250), (160, 110, 210)),
            ((250, 230, 160), (230, 150, 60)),
        ]
    )
    image = _gradient((size, size), *background, angle=rng.choice([0, 45, 90]))
    draw = ImageDraw.Draw(image)
    skin = rng.choice([(245, 210, 180), (225, 180, 140), (190, 140, 100), (140, 95, 65), (100, 70, 50)])
    shirt = rng.choice([(40, 60, 110), (160, 40, 60), (40, 110, 90), (230, 230, 230), (60, 60, 60)])
    hair = rng.choice([(40, 30, 20), (90, 60, 30), (200, 160, 90), (20, 20, 20), (150, 80, 40)])
    c = size // 2
    draw.ellipse((c - size * 0.38, size * 0.68, c + size * 0.38, size * 1.25), fill=shirt)
    draw.ellipse((c - size * 0.2, size * 0.22, c + size * 0.2, size * 0.66), fill=skin)
    draw.chord((c - size * 0.22, size * 0.16, c + size * 0.22, size * 0.56), 180, 360, fill=hair)
    return _grain(image, rng, 8)


def jpeg(image: Image.Image, quality: int = 86) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()

"""The shop's catalog: a handful of products, kept in code (the demo has no database)."""

from __future__ import annotations

from attrs import frozen

__all__ = ["PRODUCTS", "Product", "by_slug"]


@frozen
class Product:
    """One product; prices in euros."""

    slug: str
    name: str
    category: str
    price: float
    blurb: str
    color: str  # the placeholder image's colour


PRODUCTS: tuple[Product, ...] = (
    Product("trail-runner", "Trail Runner", "shoes", 89.0,
            "Grippy, light and happy on muddy paths.", "#2f855a"),
    Product("city-sneaker", "City Sneaker", "shoes", 64.0,
            "White leather that goes with everything.", "#4a5568"),
    Product("rain-shell", "Rain Shell", "jackets", 129.0,
            "Packs into its own pocket; keeps the storm out.", "#2b6cb0"),
    Product("wool-beanie", "Wool Beanie", "accessories", 19.0,
            "Merino, itch-free, one size.", "#c05621"),
    Product("day-pack", "Day Pack", "bags", 49.0,
            "22 litres, laptop sleeve, bottle pocket.", "#6b46c1"),
    Product("camp-mug", "Camp Mug", "accessories", 12.0,
            "Enamel steel; survives the campfire.", "#b7791f"),
)

_BY_SLUG = {p.slug: p for p in PRODUCTS}


def by_slug(slug: str) -> Product | None:
    """The product with this slug, or ``None``."""
    return _BY_SLUG.get(slug)

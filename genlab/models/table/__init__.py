"""Table families, one module each (`genlab.models.registry.FAMILY_MODULES` lists them);
importing this package imports none of them, so a classical family loads without torch."""

"""The default shell template and the browser runtime, shipped inside the wheel as ``tessera.shell``."""

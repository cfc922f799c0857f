"""SA-MUNIT: networks, export and (later) training for the image-to-image translation service."""

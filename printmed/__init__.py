"""printmed: the product — CLI, job service, store, batch records, API and pages.

It ties the domain packages together: `dosing` (dose and tablet), `gcode` (slicer and reader)
and `printers` (streaming), in the one direction DESIGN.md fixes.
"""

__version__ = "0.1.0"

"""Tests of printer control: the serial protocol, its peers, OctoPrint and the CLI."""

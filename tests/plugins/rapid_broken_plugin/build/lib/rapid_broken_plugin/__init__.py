"""Fails as a plug-in with a missing dependency fails."""

import a_module_nobody_installed  # noqa: F401

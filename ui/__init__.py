"""Qt widgets of Backdrop Studio. Imports `studio`; `studio` never imports `ui`."""

"""Built-in strategy plugins. The core never imports these: they load through entry points."""

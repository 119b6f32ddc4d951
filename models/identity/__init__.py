"""Who may act: staff users, roles kept as data, personal tokens, sessions, one-time links, `can`."""

"""The HTTP server: the aiohttp application and its one error table (``server``), who is asking
(``auth``, ``sessions``), and what every page shares (``pages``, ``static/``)."""

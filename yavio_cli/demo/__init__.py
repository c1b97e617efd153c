"""`yavio demo`'s machinery: the people and their rhythm (`population`), real MCP sessions
against the hotel-booking example (`traffic`), and the relay that moves their events into the
simulated past (`relay`)."""

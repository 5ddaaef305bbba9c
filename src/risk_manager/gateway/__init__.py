"""ProjectX Gateway client: `rest.GatewayRest` (REST), `hub.UserHub` / `hub.MarketHub` (SignalR),
`decode` (wire → events), `models` (typed wire models, error-code names), `redact` (log hygiene)."""

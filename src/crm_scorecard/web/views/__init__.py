"""Pages, one module per family; `web.urls` is the one map of their addresses.

- `scorecards`: home, the dashboard, diamond chart, strategy map, goal, export.
- `indicators`: an indicator's page (history, breakdown, manual values).
- `editing`: every page that changes a scorecard, one generic edit view declared per
  object (form, service, permission, where to go next), and new scorecards from a file
  or a template.
- `customers`, `complaints`, `surveys`, `voc`: the customer search and 360, complaints,
  rating links and sheets, the voice-of-the-customer board.

Views are thin: parse the request, call a selector or service, render. The domain's
`NotFound` and `Invalid` are turned into pages once, by `web.middleware.DomainErrorsAsPages`;
chart data is laid out in `web.charts`."""

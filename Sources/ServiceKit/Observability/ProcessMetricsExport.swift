// A service's metrics (`Metrics`, `RequestMetrics`, the runtime series) come with ServiceKit:
// the module is shared with the gateway, which does not link ServiceKit.
@_exported import ProcessMetrics

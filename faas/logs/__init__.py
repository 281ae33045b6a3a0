"""Function logs: how an invocation's output is framed into Lambda's log events, and the
filter patterns of FilterLogEvents. Pure: the store keeps the events, the gateway serves them."""

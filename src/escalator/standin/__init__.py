"""A Slack stand-in, for trying the app and testing it without a workspace: a local Web API that answers
as Slack does and records what it was asked (`web_api`), and signed requests in Slack's payload shapes
(`sender`). `escalator demo` and the tests drive the app through them."""

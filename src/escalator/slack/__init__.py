"""Everything that speaks Slack: listeners, rendering, and the one gateway for Web API calls."""

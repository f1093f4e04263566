"""Re-send what an audit view holds but was not delivered, from the dashboard (issue 6)."""

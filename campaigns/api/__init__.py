"""REST API of the bulk layer: campaigns, their recipient uploads, lifecycle and export."""

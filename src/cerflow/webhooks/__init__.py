"""User-registered webhooks: signed JSON deliveries with retries and a delivery log."""

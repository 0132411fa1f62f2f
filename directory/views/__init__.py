"""Server-rendered pages: the admin console (``console``) and the self-service workspace
(``workspace``). Views validate input shape and call services; they hold no business rules."""

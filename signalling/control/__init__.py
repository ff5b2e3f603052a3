"""The control plane: tenants, admin keys, meeting links, passwords, rate limits, lobby, join tokens.

`signalling.control.app:create_app(config, ...)` builds the Starlette app; `signalling.control.service.ControlPlane`
is the library both the HTTP API and the `castellan` CLI call.
"""

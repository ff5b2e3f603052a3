"""Castellan signalling: the control plane (`control/`: links, passwords, lobby, admin API), join tokens shared with
the nodes (`tokens/`), the `castellan` CLI (`cli/`, with `castellan dev`) and the browser client (`client/`, static
assets). The node's WebSocket endpoint lives with the node, in `sfu/app/`."""

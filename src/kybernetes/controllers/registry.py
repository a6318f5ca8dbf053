"""The controllers the manager knows: name → module (each module has `new(ctx) -> Controller`)."""

CONTROLLERS: dict[str, str] = {
}

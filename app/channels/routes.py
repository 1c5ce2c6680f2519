"""Mount every route of the approval channels on the app."""

from __future__ import annotations

from quart import Quart

from app.channels import registry


def register(app: Quart) -> None:
    from app.channels import identity_api, trial_message
    from app.channels.push import worker

    app.register_blueprint(identity_api.blueprint)
    app.register_blueprint(worker.blueprint)
    app.register_blueprint(trial_message.blueprint)
    for spec in registry.specs():
        if spec.blueprint is not None:
            app.register_blueprint(spec.blueprint)

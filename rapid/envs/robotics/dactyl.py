"""Dactyl's physics randomization (PAPERS.md §1), the Shadow Hand's default `randomization: dactyl`.

Each parameter is drawn anew every episode on top of the model's nominal values. The ranges
are the paper's; under ADR they are the limits the ranges may widen to.
"""

from rapid.envs.domain_randomization import PRESETS, Randomization

HAND = "robot0:*"

DACTYL = Randomization.model_validate(
    {
        "parameters": [
            {
                "name": "object_size",
                "targets": [{"field": "geom_size", "select": {"geom": "object*"}}],
                "range": [0.95, 1.05],
                "per_element": False,
            },
            {"name": "object_mass", "targets": [{"field": "body_mass", "select": {"body": "object"}}], "range": [0.5, 1.5]},
            {"name": "hand_mass", "targets": [{"field": "body_mass", "select": {"body": HAND}}], "range": [0.5, 1.5]},
            {"name": "friction", "targets": [{"field": "geom_friction", "column": 0}], "range": [0.7, 1.3]},
            {
                "name": "joint_damping",
                "targets": [{"field": "dof_damping", "select": {"joint": HAND}}],
                "distribution": "loguniform",
                "range": [0.3, 3.0],
            },
            {
                # A position servo's stiffness kp sits in the gain and, negated, in the bias: scale both.
                "name": "actuator_gain",
                "targets": [
                    {"field": "actuator_gainprm", "select": {"actuator": HAND}, "column": 0},
                    {"field": "actuator_biasprm", "select": {"actuator": HAND}, "column": 1},
                ],
                "distribution": "loguniform",
                "range": [0.75, 1.5],
            },
            {
                "name": "gravity",
                "targets": [{"field": "opt.gravity"}],
                "distribution": "normal",
                "range": [0.0, 0.4],
                "mode": "add",
            },
        ],
        "observation_noise": {"per_step": 0.002, "per_episode": 0.001},
        "action_noise": {"per_step": 0.05, "per_episode": 0.015},
        "action_latency_steps": 1,
        # Pushes of about 2 m/s^2 (Isaac Gym's Dactyl reproduction: force 2.0 x mass), rarely: at
        # a push per 10 steps of the block's full weight, a random policy lost the block within
        # 76 steps on average (300+ without pushes), which hides any other learning signal.
        "random_forces": {"body": "object", "probability": 0.02, "scale": 0.2, "decay": 0.99},
    }
)

PRESETS["dactyl"] = DACTYL

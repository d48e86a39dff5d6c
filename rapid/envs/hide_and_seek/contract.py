"""The observation and action contract of hide-and-seek, shared with the policies that read it.

Every agent observes a dict (its keys and shapes are `observation_keys`):
- `self` (SELF_SIZE,): its own SELF_FEATURES;
- for each entity type in ENTITY_TYPES: `<type>` (N_max, FEATURE_SIZES[type]) of true features,
  `<type>_visible` (N_max,) 1 where the agent sees the entity now (vision cone and line of sight),
  `<type>_present` (N_max,) 1 for a real entity, 0 for padding. `agents` are the OTHER agents
  (N_max = agents - 1); boxes and ramps have N_max = their configured count, or one padding row
  when the count is 0, so no shape has a 0 dimension;
- `lidar` (n_lidar,) ray distances divided by the lidar range, in [0, 1].
Features of unseen entities are still the true values, as in the original: the policy masks them
with `<type>_visible`, the critic may use them all.

Actions: MultiDiscrete(ACTION_NVEC) = x force bin, y force bin, z torque bin (MOVE_BINS bins over
[-MOVE_LIMIT, MOVE_LIMIT]), grab (0/1), lock (0/1).
"""

ENTITY_TYPES = ("agents", "boxes", "ramps")
SELF_KEY = "self"
LIDAR_KEY = "lidar"

# Position and velocity are world-frame metres and metres per second; yaw is the heading about z.
_KINEMATICS = ("x", "y", "z", "vx", "vy", "vz", "sin_yaw", "cos_yaw")
TEAM_FEATURES = ("hider", "seeker")  # one-hot team
SELF_FEATURES = (*_KINEMATICS, *TEAM_FEATURES, "prep", "time")  # prep: 1 in the preparation phase; time: t / horizon
AGENT_FEATURES = (*_KINEMATICS, *TEAM_FEATURES)
# size_*: full extents (m) in the object's own frame; lock state relative to the observer's team.
OBJECT_FEATURES = (*_KINEMATICS, "size_x", "size_y", "size_z", "locked_by_own_team", "locked_by_other_team")
FEATURES = {"agents": AGENT_FEATURES, "boxes": OBJECT_FEATURES, "ramps": OBJECT_FEATURES}
SELF_SIZE = len(SELF_FEATURES)
FEATURE_SIZES = {kind: len(names) for kind, names in FEATURES.items()}

MOVE_BINS = 11
MOVE_LIMIT = 0.9
ACTION_NVEC = (MOVE_BINS, MOVE_BINS, MOVE_BINS, 2, 2)
NOOP_ACTION = (MOVE_BINS // 2, MOVE_BINS // 2, MOVE_BINS // 2, 0, 0)


def visible_key(kind: str) -> str:
    return f"{kind}_visible"


def present_key(kind: str) -> str:
    return f"{kind}_present"


def observation_keys() -> tuple[str, ...]:
    """Every key of an agent's observation dict."""
    per_type = tuple(key for kind in ENTITY_TYPES for key in (kind, visible_key(kind), present_key(kind)))
    return (SELF_KEY, *per_type, LIDAR_KEY)

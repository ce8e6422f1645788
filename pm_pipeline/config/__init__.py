"""What the pipeline reads from its environment and from robots.yaml, validated once.

``settings`` is the one settings object (its PM_SOURCE_* and alert parts in their own modules),
``robots`` the fleet file, ``reference`` writes ``.env.example`` from the settings' fields."""

"""depth_refine_training: data readers, trainers and export for depth_refine_ros models.

Imports the runtime's ``models`` and ``core`` (the same networks and degradations the runtime
evaluates with); the runtime never imports this package.
"""

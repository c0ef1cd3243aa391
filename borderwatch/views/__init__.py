"""Page views: one module per page whose layout has outgrown its page file (pages/ call into them)."""

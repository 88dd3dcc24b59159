"""SasMamba Mocap add-on: the only package that imports bpy."""

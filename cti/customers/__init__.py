"""R19: customer records, built from dispositions, edited from the desk, merged by a
supervisor, searched, shown on the screen pop and kept by the retention rules."""

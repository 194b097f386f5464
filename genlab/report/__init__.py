"""HTML reports: one page shell (`html`), plots, and a section builder per kind of data."""

; Markdown: every heading, ATX (`## Title`) or setext (underlined), is a section.
; outline.py nests them by level and gives each the paragraph below it as doc.
(atx_heading heading_content: (_) @name) @definition.section
(setext_heading heading_content: (_) @name) @definition.section

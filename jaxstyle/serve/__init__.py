"""``jaxstyle serve``'s web page: the form (:mod:`.form`, from the method declarations), the jobs
(:mod:`.jobs`, one at a time on the devices, streamed) and the Gradio page (:mod:`.app`, the
only module that imports gradio: the ``web`` extra)."""

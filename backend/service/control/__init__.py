"""Control: commands an operator sends to the facility, executed by the service, confirmed by
read-back, and audited."""

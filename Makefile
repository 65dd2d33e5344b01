# The team's everyday targets, now served from the private registry by digest instead of Docker Hub.
# `make redis` / `make postgres` return once the service answers; `make down` removes the containers
# (data volumes stay: `make clean` removes them too).

BASEIMG ?= baseimg

.PHONY: redis postgres services ps down clean

redis:
	$(BASEIMG) run redis

postgres:
	$(BASEIMG) run postgres

services:
	$(BASEIMG) run redis postgres

ps:
	$(BASEIMG) ps

down:
	$(BASEIMG) down

clean:
	$(BASEIMG) down --volumes

"""The worker (`yard worker`): runs user processor code against the SDK."""

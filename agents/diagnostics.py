"""Diagnostics that make learning debuggable, computed on data the model has not trained on.

When a run does not learn, the first questions are: does the world model predict the
future over the planning horizon, does the reward head see the rare rewarding steps, and do
plans achieve what they promise? Each is answered here from the episode just collected:
it enters replay only after these are computed, so it is held out from every update so far.

- ``diag/openloop_image_mse`` (mean over the horizon) and ``diag/openloop_image_mse_last``
  (at the last step): filter the first steps of the episode, then predict the next
  ``horizon`` images open loop from the executed actions (prior means, no observations), as a
  plan would; ``diag/recon_image_mse`` is the filtered (posterior) reconstruction error, the
  floor the open-loop error should approach.
- ``diag/openloop_reward_mae``: the same open-loop prediction, for rewards.
- ``diag/reward_acc_rewarding`` / ``diag/reward_acc_nonrewarding``: with sparse rewards in
  {0, 1}, the fraction of steps whose filtered reward prediction is on the right side of 0.5,
  separately for rewarding steps (absent when the episode had none) and the others;
  ``diag/reward_pred_rewarding`` / ``..._nonrewarding`` are the mean predictions there. With
  rare rewards a unit-variance Gaussian head can separate the two (and guide a planner) while
  staying under 0.5 and while its NLL barely moves from the 0.919 floor (0.5 log 2 pi): the
  reducible part is 0.5 (r - r_hat)^2 on the ~1-2 % of rewarding steps.
- ``plan/executed_predicted_return`` / ``plan/executed_achieved_return``: for each executed
  plan chunk (the first ``mpc_steps`` actions), the return the model predicted along the
  plan's latent trajectory vs the reward the environment paid for those steps.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from agents.networks import preprocess

# Decision index -> predicted rewards of the executed steps of the plan made there.
PlannedRewards = dict[int, np.ndarray]


def world_model_diagnostics(model, episode: Mapping[str, np.ndarray], horizon: int,
                            context: int = 5, starts: int = 4) -> dict[str, float]:
    """Open-loop prediction and reward-head accuracy of ``model`` on one held-out episode.

    ``model`` is an :class:`agents.world_model.WorldModel`; its ``reward_prediction`` is in
    the environment's units even when the head is trained on normalised targets.
    """
    images = tf.convert_to_tensor(episode["image"][None])
    actions = tf.convert_to_tensor(np.asarray(episode["action"], np.float32)[None])
    rewards = np.asarray(episode["reward"], np.float32)
    length = images.shape[1]
    post, _ = model.rssm.observe(model.encoder(preprocess(images)), actions)
    truth = preprocess(images)[0].numpy()
    recon = model.decoder(model.rssm.feature(post))[0].numpy()
    filtered_reward = model.reward_prediction(model.rssm.feature(post))[0].numpy()
    metrics = {"diag/recon_image_mse": float(np.mean((recon - truth) ** 2))}
    metrics.update(_reward_accuracy(filtered_reward[1:], rewards[1:]))

    horizon = min(horizon, length - 1 - context)
    if horizon < 1:
        return metrics
    first = np.linspace(context, length - 1 - horizon, num=min(starts, length - horizon - context)).astype(int)
    state = {k: tf.gather(v[0], first) for k, v in post.items()}
    image_errors, reward_errors = [], []
    for k in range(1, horizon + 1):
        state = model.rssm.img_step(state, tf.gather(actions[0], first + k), sample=False)
        feature = model.rssm.feature(state)
        predicted = model.decoder(feature).numpy()
        image_errors.append(np.mean((predicted - truth[first + k]) ** 2))
        predicted_reward = model.reward_prediction(feature).numpy()
        reward_errors.append(np.mean(np.abs(predicted_reward - rewards[first + k])))
    metrics["diag/openloop_image_mse"] = float(np.mean(image_errors))
    metrics["diag/openloop_image_mse_last"] = float(image_errors[-1])
    metrics["diag/openloop_reward_mae"] = float(np.mean(reward_errors))
    return metrics


def _reward_accuracy(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Accuracy at rewarding and at other steps; only meaningful for {0, 1} rewards."""
    if not np.all(np.isin(actual, (0.0, 1.0))):
        return {}
    rewarding = actual > 0.5
    metrics = {}
    if np.any(~rewarding):
        metrics["diag/reward_acc_nonrewarding"] = float(np.mean(predicted[~rewarding] < 0.5))
        metrics["diag/reward_pred_nonrewarding"] = float(np.mean(predicted[~rewarding]))
    if np.any(rewarding):
        metrics["diag/reward_acc_rewarding"] = float(np.mean(predicted[rewarding] >= 0.5))
        metrics["diag/reward_pred_rewarding"] = float(np.mean(predicted[rewarding]))
    metrics["diag/rewarding_steps"] = float(np.sum(rewarding))
    return metrics


def planned_vs_achieved(planned: PlannedRewards, rewards: np.ndarray) -> dict[str, float]:
    """Mean predicted and achieved return per executed plan chunk of one episode.

    ``rewards`` is the episode's reward array (index t + 1 is paid for the decision at t).
    A chunk cut short by the episode's end is compared over the steps that happened.
    """
    predicted, achieved = [], []
    for decision, chunk in planned.items():
        paid = rewards[decision + 1: decision + 1 + len(chunk)]
        if len(paid) == 0:
            continue
        predicted.append(float(np.sum(chunk[: len(paid)])))
        achieved.append(float(np.sum(paid)))
    if not predicted:
        return {}
    return {"plan/executed_predicted_return": float(np.mean(predicted)),
            "plan/executed_achieved_return": float(np.mean(achieved))}

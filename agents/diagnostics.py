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
    horizon = max(0, min(horizon, length - 1 - context))
    first = np.linspace(context, length - 1 - horizon, num=max(0, min(starts, length - horizon - context)))
    first = first.astype(np.int32) if horizon else np.zeros([0], np.int32)
    recon_mse, filtered_reward, image_errors, reward_errors = _diagnostic_tensors(
        model, images, actions, tf.constant(rewards), tf.constant(first), horizon)
    metrics = {"diag/recon_image_mse": float(recon_mse)}
    metrics.update(_reward_accuracy(filtered_reward.numpy()[1:], rewards[1:]))
    if horizon < 1:
        return metrics
    image_errors, reward_errors = image_errors.numpy(), reward_errors.numpy()
    metrics["diag/openloop_image_mse"] = float(np.mean(image_errors))
    metrics["diag/openloop_image_mse_last"] = float(image_errors[-1])
    metrics["diag/openloop_reward_mae"] = float(np.mean(reward_errors))
    return metrics


@tf.function(reduce_retracing=True)
def _diagnostic_tensors(model, images: tf.Tensor, actions: tf.Tensor, rewards: tf.Tensor, first: tf.Tensor,
                        horizon: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The model's side of the diagnostics, as one compiled call per episode.

    Eagerly, the filtering pass, the decoder and the open-loop steps each crossed into Python
    op by op and cost ~52 ms per environment step of a mini pm_reach run (issue 22); compiled,
    the same arithmetic is one call. Returns the posterior reconstruction MSE, the filtered
    reward predictions [T], and per open-loop step k = 1..``horizon`` the image MSE and reward
    MAE averaged over the start points ``first`` [S] (empty when ``horizon`` is 0).
    """
    truth = preprocess(images)[0]
    post, _ = model.rssm.observe(model.encoder(preprocess(images)), actions)
    features = model.rssm.feature(post)
    recon_mse = tf.reduce_mean(tf.square(model.decoder(features)[0] - truth))
    filtered_reward = model.reward_prediction(features)[0]
    if horizon < 1:
        empty = tf.zeros([0])
        return recon_mse, filtered_reward, empty, empty
    state = {k: tf.gather(v[0], first) for k, v in post.items()}
    predicted = []
    for k in range(1, horizon + 1):
        state = model.rssm.img_step(state, tf.gather(actions[0], first + k), sample=False)
        predicted.append(model.rssm.feature(state))
    predicted = tf.stack(predicted)  # [H, S, F]: one decoder call for every open-loop step
    targets = first[None] + tf.range(1, horizon + 1)[:, None]  # [H, S]
    image_errors = tf.reduce_mean(tf.square(model.decoder(predicted) - tf.gather(truth, targets)), [1, 2, 3, 4])
    reward_errors = tf.reduce_mean(tf.abs(model.reward_prediction(predicted) - tf.gather(rewards, targets)), 1)
    return recon_mse, filtered_reward, image_errors, reward_errors


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
